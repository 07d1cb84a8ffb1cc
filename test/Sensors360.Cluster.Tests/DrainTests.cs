using System.Net;
using System.Net.WebSockets;
using Npgsql;
using Sensors360.Testing;

namespace Sensors360.Cluster.Tests;

/// <summary>
/// What SIGTERM does to one silo under load (docs/operations.md#restarts-and-drains), watched from outside:
/// <c>/readyz</c>, the heartbeats' answers, the heartbeat table, the dashboard sockets' close codes, the log.
/// </summary>
public sealed class DrainTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan DrainDelay = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task SIGTERM_turns_readyz_503_at_once_serves_through_the_delay_answers_every_heartbeat_under_way_and_closes_sockets_with_1001()
    {
        var database = await postgres.CreateDatabaseAsync("drain");
        await using var server = ServerProcess.Start(database, "drain", new Dictionary<string, string?>
        {
            ["Sensors360__Http__DrainDelay"] = "00:00:04",
        });
        await server.WaitUntilReadyAsync();
        var cookies = new CookieContainer();
        using var admin = await OperatorLogin.LoginAsync(server.BaseAddress, server.AdminPassword, cookies);
        var sensors = await HeartbeatLoad.ProvisionAsync(admin, "drain-", 100);
        var loadStarted = TimeProvider.System.GetUtcNow();
        await using var load = HeartbeatLoad.Start(server.BaseAddress, sensors, TimeSpan.FromMilliseconds(500));
        await load.WaitUntilEverySensorAcknowledgedAsync(loadStarted, TimeSpan.FromSeconds(30));
        await using var sockets = DashboardSockets.Open(server.BaseAddress, cookies, 3);
        await sockets.WaitForConnectionsAsync(_ => 1, TimeSpan.FromSeconds(30));

        var terminatedAt = TimeProvider.System.GetUtcNow();
        server.Terminate();
        await Eventually.TrueAsync(
            async () =>
            {
                using var response = await server.Http.GetAsync(new Uri("/readyz", UriKind.Relative));
                return response.StatusCode == HttpStatusCode.ServiceUnavailable;
            },
            TimeSpan.FromSeconds(1),
            "/readyz answering 503 within a second of SIGTERM");

        // Served on: heartbeats keep being acknowledged during the delay.
        await Eventually.TrueAsync(
            () => Task.FromResult(load.Outcomes.Count(outcome => outcome.SentAt >= terminatedAt && outcome.Acknowledged) >= 100),
            DrainDelay / 2,
            "100 heartbeats acknowledged during the drain delay");

        // Then the commits are held back across the end of the delay, so heartbeats are under way when Kestrel stops
        // accepting: each must still get its answer once the database lets them through.
        await using var tableLock = new NpgsqlConnection(database);
        await tableLock.OpenAsync();
        await using var transaction = await tableLock.BeginTransactionAsync();
        await using (var lockHeartbeats = new NpgsqlCommand("LOCK TABLE heartbeat IN SHARE MODE", tableLock, transaction))
        {
            // SHARE lets readers on and blocks every insert, so each heartbeat's commit waits.
            await lockHeartbeats.ExecuteNonQueryAsync();
        }

        var lockedAt = TimeProvider.System.GetUtcNow();
        Assert.True(lockedAt < terminatedAt + DrainDelay, "The heartbeat table was locked only after the drain delay; the machine is too slow for this test's schedule.");
        await server.LoggedAsync("Drain delay over", "the server ending its drain delay", DrainDelay + TimeSpan.FromSeconds(5));
        var closingSeenAt = TimeProvider.System.GetUtcNow();
        await transaction.RollbackAsync();

        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        await load.StopAsync();
        var outcomes = load.Outcomes;
        var all = OutcomeSummary.Describe(outcomes.Where(outcome => outcome.SentAt >= terminatedAt));

        // Every answer a client got is 204 (stored) or 503 (not stored); only requests sent after the delay found no server.
        Assert.All(outcomes.Where(outcome => outcome.Status != 0), outcome => Assert.True(outcome.Status is 204 or 503, all));
        Assert.All(outcomes.Where(outcome => outcome.Status == 0), outcome => Assert.True(outcome.SentAt >= terminatedAt + DrainDelay, all));
        Assert.True(outcomes.Any(outcome => outcome.SentAt >= terminatedAt + DrainDelay && outcome.Status == 0), $"Nothing found the server gone after the drain: {all}");

        // Heartbeats under way when Kestrel stopped accepting were answered after it, none left without an answer.
        var acrossTheClose = outcomes.Where(outcome => outcome.SentAt < terminatedAt + DrainDelay && outcome.AnsweredAt > closingSeenAt).ToList();
        Assert.True(acrossTheClose.Count > 0, $"No heartbeat was under way across the close: {all}");
        Assert.All(acrossTheClose, outcome => Assert.True(outcome.Status is 204 or 503, all));
        TestContext.Current.TestOutputHelper?.WriteLine($"After SIGTERM: {all}; under way across the close: {OutcomeSummary.Describe(acrossTheClose)}.");

        Assert.Empty(await load.FindUnstoredAcknowledgementsAsync(database));

        // Each socket was closed with 1001 (going away), after the delay, not at SIGTERM.
        var firstEnds = sockets.Ends.GroupBy(end => end.Socket).Select(group => group.First()).ToList();
        Assert.Equal(sockets.Count, firstEnds.Count);
        Assert.All(firstEnds, end =>
        {
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, end.Status);
            Assert.True(end.At >= terminatedAt + DrainDelay, $"A socket closed {(end.At - terminatedAt).TotalSeconds:0.0} s after SIGTERM, within the drain delay.");
        });

        // The steps in their order: drain, close, the silo's leaving, its end.
        var log = server.Output.ToList();
        int Step(string text) => log.FindIndex(line => line.Contains(text, StringComparison.Ordinal));
        var steps = new[] { "Stopping: /readyz answers 503", "Drain delay over", "the silo leaves the cluster", "The silo has left the cluster" }.Select(Step).ToList();
        Assert.True(steps.All(index => index >= 0) && steps.SequenceEqual(steps.Order()), string.Join('\n', log));
    }
}
