using System.Net;
using System.Net.WebSockets;
using Sensors360.Testing;

namespace Sensors360.Cluster.Tests;

/// <summary>
/// Three silos behind HAProxy (deploy/haproxy.cfg) on one PostgreSQL, under steady heartbeat load through the
/// balancer, with dashboard sockets open through it: one silo killed (kill -9), then all three restarted in turn
/// (SIGTERM, wait until the balancer holds it up again, next). Every answer is counted and every 204 looked up
/// in the heartbeat table.
/// </summary>
public sealed class SiloFailureTests(ThrowawayPostgres postgres)
{
    private const int Silos = 3;
    private const int SensorCount = 300;
    private const int SocketCount = 9;
    private static readonly TimeSpan HeartbeatPeriod = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Threshold = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan AlertAllowance = TimeSpan.FromSeconds(30);

    /// <summary>Short silences and checks, so alerts come within seconds.</summary>
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Sensors360__Monitoring__SilenceThreshold"] = "00:00:10",
        ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:05",
    };

    [Fact]
    public async Task Killing_a_silo_loses_no_acknowledged_heartbeat_its_sensors_stay_watched_and_sockets_reconnect()
    {
        var database = await postgres.CreateDatabaseAsync("silo killed");
        const string ClusterId = "silo-killed";
        // Gateways on, only so the test can ask the cluster which sensors the silo it kills holds.
        await using var cluster = await SiloCluster.StartAsync(database, ClusterId, Silos, Settings, gateways: true);
        await using var run = await LoadedCluster.StartAsync(cluster, "killed-");

        // A third of the sensors will stop at the kill. Where their grains are, as the cluster itself says; the silo
        // holding most of them is killed.
        var stopping = Enumerable.Range(0, SensorCount / 3).ToList();
        var locations = await GrainLocations.OfSensorsAsync(database, ClusterId, stopping.Select(sensor => run.Load.Sensors[sensor].Id));
        var perSilo = Enumerable.Range(0, Silos)
            .Select(silo => stopping.Where(sensor => locations[run.Load.Sensors[sensor].Id] == cluster.SiloEndpoint(silo)).ToList())
            .ToList();
        var victim = perSilo.IndexOf(perSilo.MaxBy(sensors => sensors.Count)!);
        var onVictim = perSilo[victim];
        Assert.True(onVictim.Count >= 10, $"Only {onVictim.Count} of the {stopping.Count} stopping sensors are on the silo to kill; per silo: {string.Join(", ", perSilo.Select(sensors => sensors.Count))}");

        // Taken before: what the kill sets off (sockets dropping) is under way before the call returns.
        var killedAt = TimeProvider.System.GetUtcNow();
        cluster.Silos[victim].KillAbruptly();
        foreach (var sensor in stopping)
        {
            run.Load.Stop(sensor);
        }

        // Every stopped sensor is alerted within threshold + 30 s, those whose grain died with the silo included.
        var stoppedIds = stopping.Select(sensor => run.Load.Sensors[sensor].Id).ToList();
        var alerts = await Eventually.MatchesAsync(
            () => Alerts.OpenAsync(database, stoppedIds),
            open => open.Select(alert => alert.Sensor).Distinct().Count() == stoppedIds.Count,
            Threshold + AlertAllowance + TimeSpan.FromSeconds(10),
            "an open alert for every stopped sensor");
        var lastAcknowledged = run.Load.Outcomes.Where(outcome => outcome.Acknowledged)
            .GroupBy(outcome => run.Load.Sensors[outcome.Sensor].Id)
            .ToDictionary(group => group.Key, group => group.Max(outcome => outcome.SentAt), StringComparer.Ordinal);
        Assert.All(alerts, alert =>
        {
            var late = alert.RaisedAt - (killedAt + Threshold);
            Assert.True(alert.RaisedAt <= killedAt + Threshold + AlertAllowance, $"{alert.Sensor} was alerted {late.TotalSeconds:0.0} s after threshold.");
            // The silence it reports began after the sensor's last acknowledged heartbeat.
            Assert.True(alert.SilentSince > lastAcknowledged[alert.Sensor], $"{alert.Sensor}'s alert began before its last heartbeat.");
        });

        // Sockets whose silo died come back through the balancer and start again with a snapshot.
        var dropped = run.Sockets.Ends.Where(end => end.At >= killedAt).ToList();
        Assert.NotEmpty(dropped);
        await run.Sockets.WaitForConnectionsAsync(socket => 1 + run.Sockets.Ends.Count(end => end.Socket == socket), TimeSpan.FromSeconds(30));

        // The sensors still sending are all acknowledged again, through the two silos left.
        var running = Enumerable.Range(0, SensorCount).Except(stopping).ToList();
        await run.Load.WaitUntilAcknowledgedAsync(running, TimeProvider.System.GetUtcNow(), TimeSpan.FromSeconds(60));
        await run.Load.StopAsync();
        var unstored = await run.Load.FindUnstoredAcknowledgementsAsync(database);
        Assert.True(unstored.Count == 0, $"{unstored.Count} acknowledged heartbeats are not stored; all answers: {OutcomeSummary.Describe(run.Load.Outcomes)}");
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"Kill: answers {OutcomeSummary.Describe(run.Load.Outcomes)}; stopped sensors per silo {string.Join(", ", perSilo.Select(sensors => sensors.Count))}, silo {victim} killed; sockets dropped: {DashboardSockets.Describe(dropped)}; " +
            $"latest alert {alerts.Max(alert => alert.RaisedAt - killedAt).TotalSeconds:0.0} s after the kill.");
    }

    [Fact]
    public async Task A_rolling_restart_under_load_fails_under_a_thousandth_loses_no_acknowledged_heartbeat_and_closes_sockets_with_1001()
    {
        var database = await postgres.CreateDatabaseAsync("rolling restart");
        await using var cluster = await SiloCluster.StartAsync(database, "rolling-restart", Silos, Settings);
        await using var run = await LoadedCluster.StartAsync(cluster, "rolling-");

        var restartedFrom = TimeProvider.System.GetUtcNow();
        for (var silo = 0; silo < Silos; silo++)
        {
            var stopping = cluster.Silos[silo];
            stopping.Terminate();
            Assert.Equal(0, await stopping.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            var log = stopping.Output.ToList();
            Assert.True(log.FindIndex(line => line.Contains("Drain delay over", StringComparison.Ordinal)) is var closed and >= 0
                && log.FindIndex(line => line.Contains("The silo has left the cluster", StringComparison.Ordinal)) > closed, string.Join('\n', log));
            await cluster.RestartAsync(silo);
        }

        var restartedAt = TimeProvider.System.GetUtcNow();
        await run.Load.WaitUntilAcknowledgedAsync([.. Enumerable.Range(0, SensorCount)], restartedAt, TimeSpan.FromSeconds(30));
        await run.Sockets.WaitForConnectionsAsync(socket => 1 + run.Sockets.Ends.Count(end => end.Socket == socket), TimeSpan.FromSeconds(30));
        await run.Load.StopAsync();

        var outcomes = run.Load.Outcomes;
        var failed = outcomes.Count(outcome => outcome.Status is < 200 or > 299);
        var answers = OutcomeSummary.Describe(outcomes);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"Rolling restart in {(restartedAt - restartedFrom).TotalSeconds:0} s: answers {answers}; socket ends {DashboardSockets.Describe(run.Sockets.Ends)}.");
        Assert.True(failed * 1000 < outcomes.Count, $"{failed} of {outcomes.Count} heartbeats failed: {answers}");
        var unstored = await run.Load.FindUnstoredAcknowledgementsAsync(database);
        Assert.True(unstored.Count == 0, $"{unstored.Count} acknowledged heartbeats are not stored: {answers}");

        // Stored twice (a heartbeat whose answer a leaving silo lost is asked again as a repeat, which the grain
        // recognizes): the same send number stored more than once. Held to the same budget as failures.
        var twice = await run.Load.CountStoredTwiceAsync(database);
        TestContext.Current.TestOutputHelper?.WriteLine($"Heartbeats stored twice: {twice}.");
        Assert.True(twice * 1000 < outcomes.Count, $"{twice} heartbeats stored twice among {outcomes.Count}.");

        // Every silo's drain closed its sockets with 1001, and each came back with a snapshot.
        var ends = run.Sockets.Ends;
        Assert.True(ends.Count >= Silos, $"Only {ends.Count} socket closes in three restarts: {DashboardSockets.Describe(ends)}");
        Assert.All(ends, end => Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, end.Status));
    }

    /// <summary>The cluster under load: sensors provisioned and sending through the balancer, sockets open through it.</summary>
    private sealed class LoadedCluster : IAsyncDisposable
    {
        private readonly HttpClient _operator;

        private LoadedCluster(HttpClient operatorClient, HeartbeatLoad load, DashboardSockets sockets)
        {
            _operator = operatorClient;
            Load = load;
            Sockets = sockets;
        }

        public HeartbeatLoad Load { get; }

        public DashboardSockets Sockets { get; }

        public static async Task<LoadedCluster> StartAsync(SiloCluster cluster, string prefix)
        {
            var balancer = cluster.Balancer.BaseAddress;
            var cookies = new CookieContainer();
            var operatorClient = await OperatorLogin.LoginAsync(balancer, cluster.AdminPassword, cookies);
            var sensors = await HeartbeatLoad.ProvisionAsync(operatorClient, prefix, SensorCount);
            var started = TimeProvider.System.GetUtcNow();
            var load = HeartbeatLoad.Start(balancer, sensors, HeartbeatPeriod);
            var sockets = DashboardSockets.Open(balancer, cookies, SocketCount);
            await load.WaitUntilAcknowledgedAsync([.. Enumerable.Range(0, SensorCount)], started, TimeSpan.FromSeconds(30));
            await sockets.WaitForConnectionsAsync(_ => 1, TimeSpan.FromSeconds(30));
            return new LoadedCluster(operatorClient, load, sockets);
        }

        public async ValueTask DisposeAsync()
        {
            await Sockets.DisposeAsync();
            await Load.DisposeAsync();
            _operator.Dispose();
        }
    }
}
