using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orleans.TestingHost;
using Sensors360.Grains.Analytics;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Cluster;

namespace Sensors360.Testing;

/// <summary>
/// An Orleans test cluster whose membership, grain state and reminders live in PostgreSQL, optionally
/// with the sensor grains' services and a fake monitoring clock.
/// </summary>
public static class PostgresCluster
{
    private const string ConnectionStringKey = "ConnectionStrings:Postgres";
    private const string ClockKey = "Sensors360:Test:Clock";

    // Silo configurators are created by type, so the fake clock reaches them through this registry.
    private static readonly ConcurrentDictionary<string, FakeTimeProvider> Clocks = new();

    /// <summary>
    /// A cluster of <paramref name="silos"/> on the database; <paramref name="settings"/> adds silo configuration
    /// (e.g. <c>Sensors360:Monitoring:SilenceThreshold</c>); with <paramref name="clock"/> or
    /// <paramref name="withSensors"/> the sensor grains' services are added, running on that clock.
    /// <paramref name="configure"/> may add a test's own silo configurators (they run after these).
    /// </summary>
    public static TestCluster Build(
        string connectionString,
        short silos,
        string? serviceId = null,
        IReadOnlyDictionary<string, string>? settings = null,
        FakeTimeProvider? clock = null,
        bool withSensors = false,
        Action<TestClusterBuilder>? configure = null)
    {
        var builder = new TestClusterBuilder(silos);
        builder.Options.UseTestClusterMembership = false;
        builder.Options.ConfigureFileLogging = false;
        if (serviceId is not null)
        {
            builder.Options.ServiceId = serviceId;
            builder.Options.ClusterId = serviceId;
        }

        builder.Properties[ConnectionStringKey] = connectionString;
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            builder.Properties[key] = value;
        }

        builder.AddSiloBuilderConfigurator<SiloOnPostgres>();
        if (withSensors || clock is not null)
        {
            if (clock is not null)
            {
                var clockId = Guid.NewGuid().ToString("N");
                Clocks[clockId] = clock;
                builder.Properties[ClockKey] = clockId;
            }

            builder.AddSiloBuilderConfigurator<SiloWithSensors>();
        }

        builder.AddClientBuilderConfigurator<ClientOnPostgres>();
        configure?.Invoke(builder);
        return builder.Build();
    }

    private sealed class SiloOnPostgres : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            var connectionString = siloBuilder.Configuration[ConnectionStringKey]!;
            siloBuilder.UsePostgres(() => connectionString);
            // Reminders shorter than the production minimum of a minute keep the tests quick.
            siloBuilder.Configure<ReminderOptions>(options => options.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        }
    }

    private sealed class SiloWithSensors : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            var configuration = siloBuilder.Configuration;
            siloBuilder.Services.AddSingleton(_ => NpgsqlDataSource.Create(configuration[ConnectionStringKey]!));
            if (configuration[ClockKey] is { } clockId)
            {
                siloBuilder.Services.AddKeyedSingleton<TimeProvider>(MonitoringClock.Key, Clocks[clockId]);
            }

            siloBuilder.Services.AddSensorMonitoring(configuration);
            siloBuilder.Services.AddSensorAnalytics(configuration);
        }
    }

    private sealed class ClientOnPostgres : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder clientBuilder) =>
            clientBuilder.UseAdoNetClustering(options =>
            {
                options.Invariant = OrleansOnPostgres.Invariant;
                options.ConnectionString = configuration[ConnectionStringKey]!;
            });
    }
}
