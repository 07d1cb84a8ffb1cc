using System.Diagnostics;
using System.Net;
using Npgsql;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>
/// The heartbeat routes' limits (docs/security.md): per sensor, and per client address for refused heartbeats,
/// whose ids are remembered so a storm of them costs one grain activation (one database read) per id and minute.
/// Each test sends from a loopback address of its own, so the address limits of one do not touch another.
/// </summary>
public sealed class HeartbeatLimitTests(HeartbeatLimitTests.Server running) : IClassFixture<HeartbeatLimitTests.Server>
{
    private const int RefusalsPerMinute = 20;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_sensor_over_5_a_second_gets_429_with_Retry_After_and_nothing_of_those_stored_while_another_sensor_gets_204()
    {
        var (_, flooding) = await ProvisionAsync(running.Operator, "flood-1");
        var (_, steady) = await ProvisionAsync(running.Operator, "steady-1");
        using var client = LoopbackClient.From("127.0.0.2", running.Process.BaseAddress);

        var clock = Stopwatch.StartNew();
        var floods = Enumerable.Range(0, 20).Select(_ => SendAsync(client, "flood-1", flooding)).ToList();
        var other = SendAsync(client, "steady-1", steady);
        var answers = await Task.WhenAll(floods);
        clock.Stop();

        Assert.Equal(HttpStatusCode.NoContent, (await other).Status);
        var stored = answers.Count(answer => answer.Status == HttpStatusCode.NoContent);
        var limited = answers.Where(answer => answer.Status == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal(answers.Length, stored + limited.Count);
        Assert.NotEmpty(limited);
        Assert.All(limited, answer =>
        {
            Assert.True(answer.RetryAfterSeconds >= 1, $"Retry-After {answer.RetryAfterSeconds}");
            Assert.Equal("application/problem+json", answer.MediaType);
        });
        // At most 5 in any second: over the time the burst took, no more than 5 per started second and 5 more.
        Assert.InRange(stored, 1, 5 * ((int)Math.Ceiling(clock.Elapsed.TotalSeconds) + 1));
        Assert.Equal(stored, await Sql.ScalarAsync(running.ConnectionString,
            "SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = 'flood-1'"));
    }

    [Fact]
    public async Task A_storm_of_refused_heartbeats_wakes_the_unknown_ids_grain_once_and_its_address_then_gets_429()
    {
        using var attacker = LoopbackClient.From("127.0.0.3", running.Process.BaseAddress);
        using var bystander = LoopbackClient.From("127.0.0.4", running.Process.BaseAddress);
        var (_, token) = await ProvisionAsync(running.Operator, "bystander-1");

        var answers = new List<(HttpStatusCode Status, int RetryAfterSeconds, string? MediaType)>();
        for (var i = 0; i < RefusalsPerMinute + 10; i++)
        {
            // A new token every time: the id alone is remembered as unknown.
            answers.Add(await SendAsync(attacker, "storm-ghost-1", $"s360_guess-{i}"));
        }

        Assert.All(answers.Take(RefusalsPerMinute), answer => Assert.Equal(HttpStatusCode.Unauthorized, answer.Status));
        Assert.All(answers.Skip(RefusalsPerMinute), answer =>
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, answer.Status);
            Assert.True(answer.RetryAfterSeconds >= 1, $"Retry-After {answer.RetryAfterSeconds}");
        });
        using (var limited = await HeartbeatAsync(attacker, "bystander-1", token))
        {
            await AssertProblemAsync(limited, 429);
        }

        // Another address is not limited by the first one's refusals.
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(bystander, "bystander-1", token)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(bystander, "storm-ghost-1", "s360_another")).Status);

        // A fence in the log (written in order): once the fence's activation is there, every activation for the
        // storm's id is there before it. Each activation is that id's one database read.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(bystander, "storm-fence-1", token)).Status);
        await running.Process.LoggedAsync(Server.Activated("storm-fence-1"), "the fence's grain activation is logged", Patience);
        Assert.Single(running.Process.Output, line => line.Contains(Server.Activated("storm-ghost-1"), StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_id_remembered_as_unknown_on_one_silo_is_accepted_there_as_soon_as_another_silo_provisions_it()
    {
        await using var second = ServerProcess.Start(running.ConnectionString, running.ClusterId, new Dictionary<string, string?>
        {
            ["Sensors360__Ingest__MaxHeartbeatsPerSecond"] = null,
            ["Sensors360__Ingest__MaxRefusedHeartbeatsPerMinute"] = RefusalsPerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, running.Process.AdminPassword);
        await second.WaitUntilReadyAsync();
        // Ready does not wait for the listener, and until it listens the silo remembers no refusal.
        await second.LoggedAsync("Listening for new sensors", "the second silo logs that it listens", Patience);
        using var sensor = LoopbackClient.From("127.0.0.5", second.BaseAddress);

        // Remembered on the second silo: the device sends before anyone provisioned it.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(sensor, "late-1", "s360_not-yet")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(sensor, "late-1", "s360_not-yet")).Status);
        await AcceptedAsSoonAsProvisionedAsync(sensor, "late-1");
    }

    [Fact]
    public async Task A_silo_whose_listening_connection_is_cut_listens_again_then_remembers_a_refused_id_and_forgets_it_when_provisioned()
    {
        var cutPid = await PostgresBackend.ListeningAsync(running.ConnectionString, Server.Application, other: 0, Patience);
        var seen = running.Process.Output.Count;
        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString, "SELECT pg_terminate_backend($1)::int", cutPid));

        await running.Process.LoggedAsync("Not listening for new sensors", "the silo logs that it lost its listening connection", Patience, after: seen);
        // Logged once it remembers refusals again.
        await running.Process.LoggedAsync("Listening again for new sensors", "the silo logs that it listens again", Patience, after: seen);
        await PostgresBackend.ListeningAsync(running.ConnectionString, Server.Application, other: cutPid, Patience);

        // Remembered again: the second refusal does not reach the grain, so its id is activated once. The fence, as in
        // the storm test, makes sure every activation before it is in the log.
        using var sensor = LoopbackClient.From("127.0.0.6", running.Process.BaseAddress);
        using var bystander = LoopbackClient.From("127.0.0.7", running.Process.BaseAddress);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(sensor, "relisten-1", "s360_not-yet")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(sensor, "relisten-1", "s360_not-yet")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(bystander, "relisten-fence-1", "s360_not-yet")).Status);
        await running.Process.LoggedAsync(Server.Activated("relisten-fence-1"), "the fence's grain activation is logged", Patience);
        Assert.Single(running.Process.Output, line => line.Contains(Server.Activated("relisten-1"), StringComparison.Ordinal));

        // Forgotten through the new connection: the announcement of the silo's own provisioning comes back on it.
        await AcceptedAsSoonAsProvisionedAsync(sensor, "relisten-1");
    }

    /// <summary>
    /// Provisions <paramref name="id"/> on the first silo; the silo <paramref name="sensor"/> sends to, which remembers
    /// refusing the id, accepts it well within the minute it would otherwise remember: the announcement arrives in
    /// milliseconds. Each try is refused until then and counts against the address's 20 refusals a minute, so the tries
    /// are spaced to stay under them.
    /// </summary>
    private async Task AcceptedAsSoonAsProvisionedAsync(HttpClient sensor, string id)
    {
        var (_, token) = await ProvisionAsync(running.Operator, id);
        await Eventually.TrueAsync(
            async () => (await SendAsync(sensor, id, token)).Status == HttpStatusCode.NoContent,
            TimeSpan.FromSeconds(10),
            "the silo accepts the newly provisioned sensor",
            every: TimeSpan.FromMilliseconds(700));
    }

    private static async Task<(HttpStatusCode Status, int RetryAfterSeconds, string? MediaType)> SendAsync(HttpClient client, string id, string token)
    {
        using var response = await HeartbeatAsync(client, id, token);
        var retryAfter = response.Headers.RetryAfter?.Delta is { } delta ? (int)delta.TotalSeconds : 0;
        return (response.StatusCode, retryAfter, response.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>A server of this class's own: the default per-sensor limit, 20 refusals a minute per address, and grain activations logged.</summary>
    public sealed class Server(ThrowawayPostgres postgres) : IAsyncLifetime
    {
        private ServerProcess? _process;

        public ServerProcess Process => _process ?? throw new InvalidOperationException("Not started.");

        public string ConnectionString { get; private set; } = "";

        public string ClusterId { get; } = $"limits-{Guid.NewGuid():N}";

        public HttpClient Operator { get; private set; } = null!;

        /// <summary>The name the server's connections carry, so the database can tell them apart.</summary>
        public const string Application = "heartbeat-limits";

        public static string Activated(string sensorId) => $"Sensor grain {sensorId} activated";

        public async ValueTask InitializeAsync()
        {
            ConnectionString = await postgres.CreateDatabaseAsync(nameof(HeartbeatLimitTests));
            _process = ServerProcess.Start(new NpgsqlConnectionStringBuilder(ConnectionString) { ApplicationName = Application }.ConnectionString, ClusterId, new Dictionary<string, string?>
            {
                // Removed, so the server's default (5 a second) is what is tested.
                ["Sensors360__Ingest__MaxHeartbeatsPerSecond"] = null,
                ["Sensors360__Ingest__MaxRefusedHeartbeatsPerMinute"] = RefusalsPerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Logging__LogLevel__Sensors360.Grains.Sensors.SensorGrain"] = "Debug",
            });
            await _process.WaitUntilReadyAsync();
            Operator = await _process.LoginAsync();
        }

        public async ValueTask DisposeAsync()
        {
            Operator?.Dispose();
            if (_process is not null)
            {
                await _process.DisposeAsync();
            }
        }
    }
}
