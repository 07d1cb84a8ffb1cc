using Npgsql;
using Sensors360.Server.Tests.Metrics;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>
/// The change listener's probe (docs/operations.md, Faults): every 2 s here, the server announces on a channel of its
/// own through another connection and expects to hear it back on its listening connection. A listening backend that
/// stops answering is noticed, closed and replaced; a healthy one is watched without a single exception thrown.
/// </summary>
public sealed class ChangeListenerTests(ChangeListenerTests.Server running) : IClassFixture<ChangeListenerTests.Server>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_listening_backend_that_stops_answering_is_noticed_by_the_probe_closed_and_replaced()
    {
        var stoppedPid = await PostgresBackend.ListeningAsync(running.ConnectionString, Server.Application, other: 0, Patience);
        var before = await Scrape.ReadAsync(running.Process.Http, Cancel);
        var seen = running.Process.Output.Count;
        using (PostgresBackend.Stop(stoppedPid))
        {
            // Nothing on the connection fails: only the probe's announcement not coming back tells.
            await running.Process.LoggedAsync("did not come back within 2 s", "the silo's probe notices the silent connection", Patience, after: seen);
            await running.Process.LoggedAsync("Listening again for new sensors", "the silo logs that it listens again", Patience, after: seen);
            await PostgresBackend.ListeningAsync(running.ConnectionString, Server.Application, other: stoppedPid, Patience);
        }

        // Closed, not lent out again: once it runs again the backend finds its client gone and ends.
        await Eventually.TrueAsync(
            async () => await Sql.TextAsync(running.ConnectionString, "SELECT pid::text FROM pg_stat_activity WHERE pid = $1", stoppedPid) is null,
            Patience,
            "the stopped backend's connection is closed");

        // What the idle test counts does count: the probe's verdict is thrown as an IOException.
        var after = await Scrape.ReadAsync(running.Process.Http, Cancel);
        Assert.True(Thrown(after, "IOException") > Thrown(before, "IOException"), "the verdict is counted in dotnet_exceptions_total");
    }

    [Fact]
    public async Task An_idle_silos_listener_hears_its_own_probes_without_a_single_exception()
    {
        var before = await Scrape.ReadAsync(running.Process.Http, Cancel);
        await using var overhearing = await ProbeOverhearing.StartAsync(running.Process, running.ConnectionString, Patience);

        // Three probes overheard after the first scrape were three sent and, on a healthy connection, heard by the
        // silo: at least two whole periods, in each of which a wait timed to the period (Npgsql's timed wait) would
        // have thrown five times.
        await overhearing.HeardAsync(3, Patience);

        var after = await Scrape.ReadAsync(running.Process.Http, Cancel);
        foreach (var type in new[] { "NpgsqlException", "PostgresException", "OperationCanceledException", "TimeoutException", "IOException" })
        {
            Assert.True(Thrown(before, type) == Thrown(after, type), $"{type}: {Thrown(before, type)} before, {Thrown(after, type)} after");
        }
    }

    // Exact label values: "OperationCanceledException" is also the end of "TaskCanceledException", which Orleans throws
    // when a reminder is removed, not the listener.
    private static double Thrown(Scrape scrape, string type) => scrape.Sum("dotnet_exceptions_total", $"error_type=\"{type}\"");

    /// <summary>
    /// A server probing every 2 s, on a PostgreSQL cluster of its own: a stopped backend holds up every
    /// <c>DROP DATABASE</c> in its cluster (PostgreSQL 15 waits for all backends to take a signal), and other classes drop theirs.
    /// </summary>
    public sealed class Server : IAsyncLifetime
    {
        private ThrowawayPostgres? _postgres;
        private ServerProcess? _process;

        /// <summary>The name the server's connections carry, so the database can tell them apart.</summary>
        public const string Application = "change-listener";

        public ServerProcess Process => _process ?? throw new InvalidOperationException("Not started.");

        public string ConnectionString { get; private set; } = "";

        public async ValueTask InitializeAsync()
        {
            _postgres = await ThrowawayPostgres.StartAsync();
            ConnectionString = await _postgres.CreateDatabaseAsync(nameof(ChangeListenerTests));
            _process = ServerProcess.Start(
                new NpgsqlConnectionStringBuilder(ConnectionString) { ApplicationName = Application }.ConnectionString,
                $"listener-{Guid.NewGuid():N}",
                new Dictionary<string, string?> { ["Sensors360__Database__ListenerProbeEvery"] = "00:00:02" });
            await _process.WaitUntilReadyAsync();
        }

        public async ValueTask DisposeAsync()
        {
            if (_process is not null)
            {
                await _process.DisposeAsync();
            }

            if (_postgres is not null)
            {
                await _postgres.DisposeAsync();
            }
        }
    }
}
