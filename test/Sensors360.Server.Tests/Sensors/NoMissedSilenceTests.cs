using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Server.Tests.Dashboard;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>
/// Issue 12 against the real server: a silo killed right after first heartbeats, a sensor that never reported, and a
/// database outage of two thresholds with sensors retrying. Every alert comes within threshold + sweep period + 5 s,
/// and none for a sensor that kept trying.
/// </summary>
public sealed class NoMissedSilenceTests(ThrowawayPostgres postgres)
{
    private const int ThresholdSeconds = 3;
    private const int SweepSeconds = 2;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(ThresholdSeconds + SweepSeconds + 5);

    private static readonly Dictionary<string, string?> Monitoring = new()
    {
        ["Sensors360__Monitoring__SilenceThreshold"] = $"00:00:0{ThresholdSeconds}",
        ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
        ["Sensors360__Monitoring__SweepPeriod"] = $"00:00:0{SweepSeconds}",
    };

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sensors_whose_silo_is_killed_right_after_their_first_heartbeat_are_alerted_within_threshold_plus_sweep_period()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Sensors_whose_silo_is_killed_right_after_their_first_heartbeat_are_alerted_within_threshold_plus_sweep_period));
        await using var doomed = ServerProcess.Start(database, "killed", Monitoring);
        await using var survivor = ServerProcess.Start(database, "killed", Monitoring, adminPassword: doomed.AdminPassword);
        await Task.WhenAll(doomed.WaitUntilReadyAsync(), survivor.WaitUntilReadyAsync());
        await Eventually.MatchesAsync(survivor.GetClusterAsync, view => view.Silos.Count == 2, TimeSpan.FromSeconds(30), "both silos in the cluster");

        // Each sensor's first heartbeat goes through the doomed silo, where its grain is activated, right after it is
        // provisioned (it would alert as never reported a threshold later).
        using var operatorClient = await doomed.LoginAsync();
        var sensors = Enumerable.Range(0, 20).Select(i => $"crash-{i:00}").ToList();
        foreach (var id in sensors)
        {
            var (_, token) = await ProvisionAsync(operatorClient, id);
            await StoredHeartbeatAsync(doomed.Http, id, token);
        }

        var killedAt = DateTimeOffset.UtcNow;
        Process.GetProcessById(doomed.ProcessId).Kill();

        await Eventually.TrueAsync(
            async () => await Sql.ScalarAsync(database, "SELECT count(DISTINCT sensor_id) FROM alert WHERE resolved_at IS NULL AND kind = 'silent'") == sensors.Count,
            TimeSpan.FromSeconds(60),
            "every sensor of the killed silo has an open silence alert");

        // One alert each, its silence counted from the last heartbeat, raised within the bound of it (both times the
        // server's, on the same clock). The cluster itself takes longer than that to declare the silo dead.
        Assert.Equal(sensors.Count, await Sql.ScalarAsync(database, "SELECT count(*) FROM alert"));
        var offBound = await Sql.TextAsync(database, $"""
            SELECT string_agg(format('%s (last heartbeat %s, silent since %s, raised %s)', s.name, s.last_heartbeat_at, a.silent_since, a.raised_at), '; ')
            FROM alert a JOIN sensor_status_rebuilt s ON s.id = a.sensor_id
            WHERE a.silent_since <> s.last_heartbeat_at + interval '{ThresholdSeconds} seconds'
               OR a.raised_at > s.last_heartbeat_at + interval '{Bound.TotalSeconds} seconds'
            """);
        Assert.True(offBound is null, $"Alerts off their silence or raised past the bound (killed at {killedAt:O}): {offBound}");
        // The kill did hit sensors: some alerts could only come from the survivor, raised by its sweep itself while the
        // dead silo's grains could not be asked, or by those grains once activated again there (on a busy machine the
        // cluster may declare the silo dead first).
        Assert.NotEqual(0, await Sql.ScalarAsync(database, "SELECT count(*) FROM alert WHERE raised_at > $1", killedAt));
    }

    [Fact]
    public async Task A_sensor_that_never_reported_is_alerted_as_such_counts_as_silent_and_its_first_heartbeat_resolves_it()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(A_sensor_that_never_reported_is_alerted_as_such_counts_as_silent_and_its_first_heartbeat_resolves_it));
        await using var server = ServerProcess.Start(database, "never-reported", Monitoring);
        await server.WaitUntilReadyAsync();
        var cookies = await server.LoginCookiesAsync();
        using var operatorClient = await server.LoginAsync(cookies: cookies);
        await using var feed = await FeedClient.ConnectAsync(server, cookies);

        // One sensor reports (an hour's threshold keeps it online); the other never does.
        var (_, talkerToken) = await ProvisionAsync(operatorClient, "talker", new { id = "talker", silenceThresholdSeconds = 3600 });
        await StoredHeartbeatAsync(server.Http, "talker", talkerToken);

        var (provisioned, muteToken) = await ProvisionAsync(operatorClient, "mute");
        var createdAt = provisioned.GetProperty("createdAt").GetDateTimeOffset();

        var frame = await feed.WaitForAsync("alert", message => message.GetProperty("alert").GetProperty("sensorId").GetString() == "mute", TimeSpan.FromSeconds(30));
        Assert.Equal("never-reported", frame.GetProperty("alert").GetProperty("kind").GetString());

        var alert = Assert.Single(await AlertsAsync(operatorClient, "open", "mute"));
        Assert.Equal("never-reported", alert.GetProperty("kind").GetString());
        var silentSince = alert.GetProperty("silentSince").GetDateTimeOffset();
        Assert.Equal(createdAt.AddSeconds(ThresholdSeconds), silentSince);
        Assert.InRange(alert.GetProperty("raisedAt").GetDateTimeOffset(), silentSince, silentSince + Bound);
        Assert.Equal("silent", (await SensorAsync(operatorClient, "mute")).GetProperty("status").GetString());

        // It counts in the silent share: 1 of the 2 sensors online or silent, in /api/fleet and in the feed's snapshot.
        var fleet = await Eventually.MatchesAsync(
            () => operatorClient.GetFromJsonAsync<JsonElement>(new Uri("/api/fleet", UriKind.Relative), Cancel),
            numbers => numbers.GetProperty("sensors").GetProperty("silent").GetInt32() == 1,
            TimeSpan.FromSeconds(20),
            "the fleet counts the sensor silent");
        Assert.Equal(1, fleet.GetProperty("sensors").GetProperty("online").GetInt32());
        Assert.Equal(0, fleet.GetProperty("sensors").GetProperty("pending").GetInt32());
        Assert.Equal(50, fleet.GetProperty("silentPercent").GetDouble());
        await feed.WaitForAsync("snapshot", message => message.GetProperty("fleet").GetProperty("silentPercent").GetDouble() == 50, TimeSpan.FromSeconds(20));

        // Its first heartbeat resolves it.
        await StoredHeartbeatAsync(server.Http, "mute", muteToken);

        Assert.Empty(await AlertsAsync(operatorClient, "open", "mute"));
        Assert.NotEqual(JsonValueKind.Null, Assert.Single(await AlertsAsync(operatorClient, "resolved", "mute")).GetProperty("resolvedAt").ValueKind);
        Assert.Equal("online", (await SensorAsync(operatorClient, "mute")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_database_outage_of_two_thresholds_alerts_only_the_sensor_that_stopped_and_that_one_once_it_is_back()
    {
        await using var ownPostgres = await ThrowawayPostgres.StartAsync();
        var database = await ownPostgres.CreateDatabaseAsync("outage-silence");
        await using var server = ServerProcess.Start(database, "outage-silence", Monitoring);
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();

        // Three sensors retry every 0.5, 1 and 1.5 s whatever they are answered (well inside the 3 s threshold); one stops
        // when the database goes. Each beats right after it is provisioned and each retrying one keeps beating from
        // then on, so a slow set-up cannot leave one overdue (never reported) before the outage starts.
        var answers = new ConcurrentDictionary<string, ConcurrentQueue<HttpStatusCode>>();
        using var stopSending = new CancellationTokenSource();
        var senders = new List<Task>();
        for (var i = 0; i < 3; i++)
        {
            var id = $"retry-{i}";
            var (_, token) = await ProvisionAsync(operatorClient, id);
            await StoredHeartbeatAsync(server.Http, id, token);
            senders.Add(SendEveryAsync(server, id, token, TimeSpan.FromSeconds(0.5 * (i + 1)), answers.GetOrAdd(id, _ => new()), stopSending.Token));
        }

        var (_, stoppedToken) = await ProvisionAsync(operatorClient, "stopped");
        await StoredHeartbeatAsync(server.Http, "stopped", stoppedToken);
        Assert.True(
            await Sql.ScalarAsync(database, "SELECT count(*) FROM alert") == 0,
            "an alert was raised before the outage: the set-up took longer than the threshold");

        var outputBeforeOutage = server.Output.Count;
        var outage = Stopwatch.StartNew();
        await ownPostgres.StopServerAsync();
        // The outage lasts two thresholds: its length is the scenario, not a wait for something to happen.
        await Task.Delay(TimeSpan.FromSeconds(2 * ThresholdSeconds), Cancel);
        var outageSeconds = outage.Elapsed.TotalSeconds;
        var outageOutput = server.Output.Skip(outputBeforeOutage).ToList();
        var reconcileWarnings = outageOutput.Count(line => line.Contains("Could not reconcile the fleet", StringComparison.Ordinal));
        var batchWarnings = outageOutput.Count(line => line.Contains("Could not store a batch", StringComparison.Ordinal));
        await ownPostgres.StartServerAsync();
        Assert.All(answers.Values, sent => Assert.Contains(HttpStatusCode.ServiceUnavailable, sent));
        // The dashboard tries the database again every 5 s while it is down, not at every tick (4 a second).
        Assert.True(
            reconcileWarnings <= 1 + (int)(outageSeconds / 5),
            $"{reconcileWarnings} warnings that the dashboard could not reconcile in an outage of {outageSeconds:F1} s");
        // Every heartbeat's batch fails; one warning every 10 s says so, the rest are at Debug.
        Assert.True(
            batchWarnings is >= 1 && batchWarnings <= 1 + (int)(outageSeconds / 10),
            $"{batchWarnings} warnings that a batch could not be stored in an outage of {outageSeconds:F1} s");
        var recovered = Stopwatch.StartNew();
        var sentBeforeRecovery = answers.ToDictionary(pair => pair.Key, pair => pair.Value.Count);

        // The stopped sensor is alerted once the database is back, within threshold + sweep period + 5 s.
        await Eventually.TrueAsync(
            async () => await Sql.ScalarAsync(database, "SELECT count(*) FROM alert a JOIN sensor s ON s.id = a.sensor_id WHERE s.name = 'stopped'") == 1,
            Bound,
            "the stopped sensor is alerted after the outage");
        Assert.True(
            await Sql.ScalarAsync(database, $"""
                SELECT count(*) FROM alert a JOIN sensor_status_rebuilt s ON s.id = a.sensor_id
                WHERE s.name = 'stopped' AND a.kind = 'silent' AND a.silent_since = s.last_heartbeat_at + interval '{ThresholdSeconds} seconds'
                """) == 1,
            "the stopped sensor's alert is not silent since its last heartbeat + threshold: " + await Sql.TextAsync(database, """
                SELECT format('%s, silent since %s, last heartbeat %s', a.kind, a.silent_since, s.last_heartbeat_at)
                FROM alert a JOIN sensor_status_rebuilt s ON s.id = a.sensor_id WHERE s.name = 'stopped'
                """));

        // The retrying ones are stored again, and stay unalerted for a further threshold and two sweeps.
        await Eventually.TrueAsync(
            () => Task.FromResult(answers.All(pair => pair.Value.Skip(sentBeforeRecovery[pair.Key]).Count(status => status == HttpStatusCode.NoContent) >= 2)),
            TimeSpan.FromSeconds(30),
            "the retrying sensors are stored again");
        await Eventually.TrueAsync(
            () => Task.FromResult(recovered.Elapsed >= TimeSpan.FromSeconds(ThresholdSeconds + (2 * SweepSeconds))),
            TimeSpan.FromSeconds(30),
            "a threshold and two sweep periods pass after recovery");
        await stopSending.CancelAsync();
        await Task.WhenAll(senders);
        var retryAlerts = await Sql.TextAsync(database, """
            SELECT string_agg(format('%s: %s alert silent since %s, raised %s; its stored heartbeats %s', s.name, a.kind, a.silent_since, a.raised_at,
                (SELECT string_agg(h.received_at::text, ', ' ORDER BY h.received_at) FROM heartbeat h WHERE h.sensor_id = s.id)), '; ')
            FROM alert a JOIN sensor s ON s.id = a.sensor_id WHERE s.name LIKE 'retry-%'
            """);
        // A rare failure in CI: when it happens again, the message says which sensor, when, and what the server warned of.
        Assert.True(retryAlerts is null, $"""
            A retrying sensor was alerted. {retryAlerts}
            Answers: {string.Join("; ", answers.OrderBy(pair => pair.Key).Select(pair => $"{pair.Key} {string.Join(',', pair.Value.Select(status => (int)status))}"))}
            The server's warnings: {string.Join('\n', server.Output.Where(line => line.Contains("warn:", StringComparison.Ordinal) || line.Contains("fail:", StringComparison.Ordinal)))}
            """);
        Assert.All(answers.Values.SelectMany(queue => queue), status => Assert.True(
            status is HttpStatusCode.NoContent or HttpStatusCode.ServiceUnavailable, $"a heartbeat was answered {(int)status}"));
    }

    [Fact]
    public async Task A_sweep_period_under_a_second_stops_the_server_with_one_clear_line()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_sweep_period_under_a_second_stops_the_server_with_one_clear_line));
        await using var server = ServerProcess.Start(database, "sweep-setting", new Dictionary<string, string?>
        {
            ["Sensors360__Monitoring__SweepPeriod"] = "00:00:00.500",
        });

        Assert.NotEqual(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Single(server.Output, line => line.Contains("Sensors360:Monitoring:SweepPeriod must be at least 00:00:01", StringComparison.Ordinal));
        Assert.DoesNotContain(server.Output, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    private static async Task SendEveryAsync(
        ServerProcess server, string id, string token, TimeSpan every, ConcurrentQueue<HttpStatusCode> answers, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(every);
        try
        {
            do
            {
                using var response = await HeartbeatAsync(server.Http, id, token);
                answers.Enqueue(response.StatusCode);
            }
            while (await timer.WaitForNextTickAsync(stop));
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private static async Task<List<JsonElement>> AlertsAsync(HttpClient client, string state, string sensorId)
    {
        var page = await client.GetFromJsonAsync<JsonElement>(new Uri($"/api/alerts?state={state}&sensor={sensorId}", UriKind.Relative), Cancel);
        return [.. page.GetProperty("items").EnumerateArray()];
    }

    private static async Task<JsonElement> SensorAsync(HttpClient client, string id) =>
        await client.GetFromJsonAsync<JsonElement>(new Uri($"/api/sensors/{id}", UriKind.Relative), Cancel);
}
