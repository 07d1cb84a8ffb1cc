using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orleans.TestingHost;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Alerts;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// A one-silo cluster with sensor grains on a fresh database and a fake monitoring clock, plus the
/// queries tests use to see what the grains wrote.
/// </summary>
internal sealed class SensorFleet : IAsyncDisposable
{
    public static readonly TimeSpan DefaultThreshold = TimeSpan.FromSeconds(60);

    private SensorFleet(TestCluster cluster, FakeTimeProvider clock, NpgsqlDataSource db)
    {
        Cluster = cluster;
        Clock = clock;
        Db = db;
    }

    public TestCluster Cluster { get; }

    public FakeTimeProvider Clock { get; }

    public NpgsqlDataSource Db { get; }

    /// <summary>
    /// A fleet on a fresh database; <paramref name="settings"/> add to or override the silo's settings, and
    /// <paramref name="configure"/> adds silo configurators (e.g. a heartbeat writer that fails on purpose).
    /// </summary>
    public static async Task<SensorFleet> StartAsync(
        ThrowawayPostgres postgres, string purpose, IReadOnlyDictionary<string, string>? settings = null, Action<TestClusterBuilder>? configure = null)
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, purpose);
        // Whole seconds, so times read back from PostgreSQL (microseconds) compare exactly.
        var now = DateTimeOffset.UtcNow;
        var clock = new FakeTimeProvider(now.AddTicks(-(now.Ticks % TimeSpan.TicksPerSecond)));
        var siloSettings = new Dictionary<string, string>
        {
            ["Sensors360:Monitoring:SilenceThreshold"] = DefaultThreshold.ToString(),
            ["Sensors360:Monitoring:SilenceCheckPeriod"] = "00:00:01",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            siloSettings[key] = value;
        }

        var cluster = PostgresCluster.Build(connectionString, silos: 1, clock: clock, settings: siloSettings, configure: configure);
        await cluster.DeployAsync();
        return new SensorFleet(cluster, clock, NpgsqlDataSource.Create(connectionString));
    }

    public ISensorGrain Sensor(string id) => Cluster.Client.GetGrain<ISensorGrain>(id);

    /// <summary>Provisions a sensor and returns its token.</summary>
    public async Task<string> ProvisionAsync(string id, int? thresholdSeconds = null, params string[] tags)
    {
        var token = SensorTokens.NewToken();
        Assert.Equal(ProvisionResult.Created, await Sensor(id).Provision(new SensorRegistration(tags, thresholdSeconds, SensorTokens.Hash(token))));
        return token;
    }

    public Task<HeartbeatResult> HeartbeatAsync(string id, string token, string? metricsJson = null) =>
        Sensor(id).Heartbeat(new HeartbeatReport(SensorTokens.Hash(token), Clock.GetUtcNow(), metricsJson));

    /// <summary>Moves sensor time on; due silence timers fire at once (their grain calls complete later).</summary>
    public void Advance(TimeSpan by) => Clock.Advance(by);

    public async Task<SensorStatus> StatusAsync(string id) => (await Sensor(id).Describe())!.Status;

    public Task WaitForStatusAsync(string id, SensorStatus status) =>
        Eventually.TrueAsync(async () => await StatusAsync(id) == status, TimeSpan.FromSeconds(20), $"sensor {id} is {status}");

    /// <summary>The sensor's alerts, oldest first, as the alert store lists them.</summary>
    public async Task<List<Alert>> AlertsAsync(string id) =>
        [.. (await new AlertStore(Db).ListAsync(AlertState.All, id, beforeId: null, limit: 1000, CancellationToken.None)).Reverse()];

    public async Task<long> ScalarAsync(string sql, params object[] values)
    {
        await using var command = Db.CreateCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.AddWithValue(value);
        }

        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The silence reminder rows of a sensor (with their ETags, which change on every write).</summary>
    public async Task<IReadOnlyList<ReminderEntry>> RemindersAsync(string id)
    {
        var table = Cluster.GetSiloServiceProvider().GetRequiredService<IReminderTable>();
        return [.. (await table.ReadRows(Sensor(id).GetGrainId())).Reminders];
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Db.DisposeAsync();
    }
}
