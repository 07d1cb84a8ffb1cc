using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;
using Sensors360.Server.Cluster;

namespace Sensors360.Server.Tests.Cluster;

/// <summary>An Orleans test cluster whose membership, grain state and reminders live in PostgreSQL.</summary>
internal static class PostgresCluster
{
    private const string ConnectionStringKey = "ConnectionStrings:Postgres";

    public static TestCluster Build(string connectionString, short silos, string? serviceId = null)
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
        builder.AddSiloBuilderConfigurator<SiloOnPostgres>();
        builder.AddClientBuilderConfigurator<ClientOnPostgres>();
        return builder.Build();
    }

    private sealed class SiloOnPostgres : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            var connectionString = siloBuilder.Configuration[ConnectionStringKey]!;
            siloBuilder.UsePostgres(() => connectionString);
            // Reminders shorter than the production minimum of a minute keep the test quick.
            siloBuilder.Configure<ReminderOptions>(options => options.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
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
