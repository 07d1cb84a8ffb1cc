using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Maintenance;

/// <summary>
/// Pause, resume and maintenance windows over HTTP on a real server (issue 13): no alert while paused, shown
/// paused, an alert at once when a silence outlasts the pause; and one sensor's uptime from its alert history.
/// </summary>
public sealed class MaintenanceApiTests(RunningServer running) : IClassFixture<RunningServer>
{
    // Long enough for a pause to be set before the silence is due, short enough for a test.
    private const int ThresholdSeconds = 5;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private HttpClient Operator => running.Operator;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_paused_sensor_shows_paused_raises_no_alert_and_is_alerted_at_once_when_resumed_past_its_threshold()
    {
        var paused = await ProvisionedAndHeardAsync("pz-paused");
        var until = DateTimeOffset.UtcNow.AddHours(1);
        var answer = await PostAsync($"/api/sensors/pz-paused/pause", new { until = Iso(until), reason = "recalibration" });
        Assert.Equal("paused", answer.GetProperty("status").GetString());
        Assert.Equal(until.ToUnixTimeMilliseconds(), answer.GetProperty("pausedUntil").GetDateTimeOffset().ToUnixTimeMilliseconds());
        // Heard after the paused one was, so by the time it is alerted the paused one's silence is due as well.
        await ProvisionedAndHeardAsync("pz-witness");

        await WaitForStatusAsync("pz-witness", "silent");
        Assert.Equal(0, await AlertCountAsync("pz-paused"));
        Assert.Equal("paused", (await GetAsync("/api/sensors/pz-paused")).GetProperty("status").GetString());
        var listed = (await GetAsync("/api/sensors?status=paused")).GetProperty("items").EnumerateArray().Select(item => item.GetProperty("id").GetString());
        Assert.Contains("pz-paused", listed);

        var resumed = await PostAsync("/api/sensors/pz-paused/resume", null);
        Assert.Equal("silent", resumed.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, resumed.GetProperty("pausedUntil").ValueKind);
        var alert = Assert.Single((await GetAsync("/api/alerts?sensor=pz-paused")).GetProperty("items").EnumerateArray());
        Assert.Equal(paused.AddSeconds(ThresholdSeconds), alert.GetProperty("silentSince").GetDateTimeOffset());

        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM audit_event WHERE action = 'sensor.paused' AND target = 'pz-paused' AND details->>'reason' = 'recalibration'"));
        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM audit_event WHERE action = 'sensor.resumed' AND target = 'pz-paused'"));
        // The pause is history for uptime: it ran from the pause to the resume.
        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString,
            "SELECT count(*) FROM sensor_pause p JOIN sensor s ON s.id = p.sensor_id WHERE s.name = 'pz-paused' AND p.ends_at < $1", until));
    }

    [Fact]
    public async Task A_maintenance_window_pauses_the_sensors_of_its_tags_and_ending_it_alerts_a_silence_that_outlasted_it()
    {
        using var created = await Operator.PostAsJsonAsync(
            new Uri("/api/maintenance", UriKind.Relative), new { end = Iso(DateTimeOffset.UtcNow.AddHours(1)), tags = new[] { "mw-site" }, reason = "pump swap" }, Cancel);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var window = await created.Content.ReadFromJsonAsync<JsonElement>(Cancel);
        var id = window.GetProperty("id").GetInt64();
        Assert.Equal("running", window.GetProperty("state").GetString());
        Assert.Equal("admin", window.GetProperty("createdBy").GetString());
        Assert.Equal($"/api/maintenance/{id}", created.Headers.Location?.OriginalString);

        var inside = await ProvisionedAndHeardAsync("mw-inside", "mw-site");
        await ProvisionedAndHeardAsync("mw-outside", "mw-other");
        await WaitForStatusAsync("mw-outside", "silent");
        Assert.Equal(0, await AlertCountAsync("mw-inside"));
        Assert.Equal("paused", (await GetAsync("/api/sensors/mw-inside")).GetProperty("status").GetString());
        Assert.Contains(id, (await GetAsync("/api/maintenance")).EnumerateArray().Select(item => item.GetProperty("id").GetInt64()));

        // A running window keeps its start; its reason may change.
        using (var moved = await PatchAsync($"/api/maintenance/{id}", new { start = Iso(DateTimeOffset.UtcNow.AddMinutes(-5)) }))
        {
            await AssertProblemAsync(moved, 409);
        }

        using (var renamed = await PatchAsync($"/api/maintenance/{id}", new { reason = "pump swap, second try" }))
        {
            Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);
        }

        // Deleting a running window ends it now: the silence that outlasted it is alerted within the check period.
        using (var ended = await Operator.DeleteAsync(new Uri($"/api/maintenance/{id}", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.NoContent, ended.StatusCode);
        }

        await WaitForStatusAsync("mw-inside", "silent");
        var alert = Assert.Single((await GetAsync("/api/alerts?sensor=mw-inside")).GetProperty("items").EnumerateArray());
        Assert.Equal(inside.AddSeconds(ThresholdSeconds), alert.GetProperty("silentSince").GetDateTimeOffset());
        Assert.Equal("over", (await GetAsync($"/api/maintenance/{id}")).GetProperty("state").GetString());
        using (var again = await Operator.DeleteAsync(new Uri($"/api/maintenance/{id}", UriKind.Relative), Cancel))
        {
            await AssertProblemAsync(again, 409);
        }

        using (var late = await PatchAsync($"/api/maintenance/{id}", new { reason = "too late" }))
        {
            await AssertProblemAsync(late, 409);
        }

        // A window not begun is deleted outright.
        using var scheduled = await Operator.PostAsJsonAsync(new Uri("/api/maintenance", UriKind.Relative),
            new { start = Iso(DateTimeOffset.UtcNow.AddDays(1)), end = Iso(DateTimeOffset.UtcNow.AddDays(2)), tags = new[] { "mw-later" } }, Cancel);
        var later = (await scheduled.Content.ReadFromJsonAsync<JsonElement>(Cancel)).GetProperty("id").GetInt64();
        using (var removed = await Operator.DeleteAsync(new Uri($"/api/maintenance/{later}", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        }

        using (var gone = await Operator.GetAsync(new Uri($"/api/maintenance/{later}", UriKind.Relative), Cancel))
        {
            await AssertProblemAsync(gone, 404);
        }

        Assert.Equal(3, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM audit_event WHERE action LIKE 'maintenance.%' AND target = $1", id.ToString(CultureInfo.InvariantCulture)));
    }

    public static TheoryData<string> BadPauses()
    {
        var now = DateTimeOffset.UtcNow;
        return new(
            "{}",
            """{"until":null}""",
            """{"until":"tomorrow"}""",
            """{"until":"2026-12-01T10:00:00"}""",
            $$"""{"until":"{{Iso(now.AddMinutes(-1))}}"}""",
            $$"""{"until":"{{Iso(now.AddDays(400))}}"}""",
            $$"""{"until":"{{Iso(now.AddHours(1))}}","reason":"{{new string('x', 501)}}"}""",
            """{"until":5}""",
            """[]""");
    }

    [Theory]
    [MemberData(nameof(BadPauses))]
    public async Task Bad_pauses_get_400(string body)
    {
        // Created by the first case, there already for the others.
        using (var provisioned = await Operator.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "pz-bad" }, Cancel))
        {
            Assert.True(provisioned.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict);
        }

        using var response = await SendJsonAsync(HttpMethod.Post, "/api/sensors/pz-bad/pause", body);
        await AssertProblemAsync(response, 400);
    }

    public static TheoryData<string> BadWindows()
    {
        var now = DateTimeOffset.UtcNow;
        static string Window(DateTimeOffset? start, DateTimeOffset end, params string[] tags) =>
            JsonSerializer.Serialize(new { start = start is { } from ? Iso(from) : null, end = Iso(end), tags });
        return new(
            """{"tags":["a"]}""",
            Window(now.AddHours(2), now.AddHours(1), "a"),
            Window(now.AddHours(1), now.AddHours(1), "a"),
            Window(null, now.AddHours(1)),
            Window(null, now.AddHours(1), "bad tag"),
            Window(null, now.AddHours(1), "a", "a"),
            Window(null, now.AddDays(400), "a"),
            Window(now.AddDays(-2), now.AddDays(-1), "a"),
            Window(now.AddHours(-1), now.AddHours(1), "a"),
            """{"end":"soon","tags":["a"]}""",
            """{"end":"2027-01-01T00:00:00Z","tags":"a"}""");
    }

    [Theory]
    [MemberData(nameof(BadWindows))]
    public async Task Bad_maintenance_windows_get_400(string body)
    {
        using var response = await SendJsonAsync(HttpMethod.Post, "/api/maintenance", body);
        await AssertProblemAsync(response, 400);
    }

    [Fact]
    public async Task Unknown_sensors_and_windows_get_404_and_a_retired_sensor_409()
    {
        var future = Iso(DateTimeOffset.UtcNow.AddHours(1));
        using (var response = await Operator.PostAsJsonAsync(new Uri("/api/sensors/pz-missing/pause", UriKind.Relative), new { until = future }, Cancel))
        {
            await AssertProblemAsync(response, 404);
        }

        using (var response = await Operator.PostAsync(new Uri("/api/sensors/pz-missing/resume", UriKind.Relative), null, Cancel))
        {
            await AssertProblemAsync(response, 404);
        }

        foreach (var path in new[] { "/api/maintenance/999999", "/api/maintenance/x", "/api/sensors/pz-missing/uptime" })
        {
            using var response = await Operator.GetAsync(new Uri(path, UriKind.Relative), Cancel);
            await AssertProblemAsync(response, 404);
        }

        using (var response = await Operator.DeleteAsync(new Uri("/api/maintenance/999999", UriKind.Relative), Cancel))
        {
            await AssertProblemAsync(response, 404);
        }

        await ProvisionAsync(Operator, "pz-retired");
        using (var retire = await Operator.PostAsync(new Uri("/api/sensors/pz-retired/retire", UriKind.Relative), null, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, retire.StatusCode);
        }

        using (var response = await Operator.PostAsJsonAsync(new Uri("/api/sensors/pz-retired/pause", UriKind.Relative), new { until = future }, Cancel))
        {
            await AssertProblemAsync(response, 409);
        }

        using var anonymous = new HttpClient { BaseAddress = running.Server.BaseAddress };
        using var refused = await anonymous.GetAsync(new Uri("/api/maintenance", UriKind.Relative), Cancel);
        await AssertProblemAsync(refused, 401);
    }

    [Fact]
    public async Task A_sensors_uptime_is_computed_from_its_alerts_per_UTC_day_leaving_paused_time_out()
    {
        // Worked by hand, relative to today's UTC midnight D0 (the server's window of 3 days starts at D0 − 2 days):
        //   provisioned D0−2d 06:00; an alert D0−2d 12:00–13:00; a maintenance window of its tag D0−2d 20:00–22:00;
        //   a pause D0−1d 00:00–06:00 and an alert D0−1d 04:00–08:00.
        // Day 1: monitored 06:00–24:00 less 2 h = 57,600 s, down 3,600 s: 54,000 / 57,600 = 93.75%.
        // Day 2: monitored 06:00–24:00 = 64,800 s, down 06:00–08:00 = 7,200 s: 57,600 / 64,800 = 88.889%.
        // Today: nothing down, 100%.
        var today = new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date, TimeSpan.Zero);
        var day1 = today.AddDays(-2);
        var day2 = today.AddDays(-1);
        // A threshold of 30 days: never overdue, so the grains and the sweep leave this made-up history alone.
        var id = await Sql.ScalarAsync(running.ConnectionString,
            "INSERT INTO sensor (name, tags, token_hash, created_at, silence_threshold_seconds) VALUES ('up-1', '{up-site}', 'x', $1, 2592000) RETURNING id",
            day1.AddHours(6));
        await InsertAlertAsync(id, day1.AddHours(12), day1.AddHours(13));
        await InsertAlertAsync(id, day2.AddHours(4), day2.AddHours(8));
        await Sql.ScalarAsync(running.ConnectionString, "INSERT INTO sensor_pause (sensor_id, starts_at, ends_at) VALUES ($1, $2, $3)", id, day2, day2.AddHours(6));
        await Sql.ScalarAsync(running.ConnectionString,
            "INSERT INTO maintenance_window (starts_at, ends_at, tags, created_at) VALUES ($1, $2, '{up-site}', $1)", day1.AddHours(20), day1.AddHours(22));

        var uptime = await GetAsync("/api/sensors/up-1/uptime?days=3");
        Assert.Equal(3, uptime.GetProperty("days").GetInt32());
        var buckets = uptime.GetProperty("buckets").EnumerateArray().ToList();
        Assert.Equal([Day(day1), Day(day2), Day(today)], buckets.Select(bucket => bucket.GetProperty("day").GetString()));
        Assert.Equal(93.75, buckets[0].GetProperty("uptimePercent").GetDouble());
        Assert.Equal(3600, buckets[0].GetProperty("downSeconds").GetDouble());
        Assert.Equal(57600, buckets[0].GetProperty("monitoredSeconds").GetDouble());
        Assert.Equal(88.889, buckets[1].GetProperty("uptimePercent").GetDouble());
        Assert.Equal(7200, buckets[1].GetProperty("downSeconds").GetDouble());
        Assert.Equal(100, buckets[2].GetProperty("uptimePercent").GetDouble());
        var downtime = uptime.GetProperty("downtime").EnumerateArray().ToList();
        Assert.Equal([day1.AddHours(12), day2.AddHours(4)], downtime.Select(span => span.GetProperty("from").GetDateTimeOffset()));
        Assert.All(downtime, span => Assert.Equal("silent", span.GetProperty("kind").GetString()));
        // The whole window: (57,600 + 64,800 + t − 10,800) / (57,600 + 64,800 + t), t the seconds of today so far.
        var t = (uptime.GetProperty("to").GetDateTimeOffset() - today).TotalSeconds;
        Assert.Equal((111600 + t) * 100 / (122400 + t), uptime.GetProperty("uptimePercent").GetDouble(), 0.001);

        // Before provisioning nothing was monitored: no percent, not 100%.
        var longer = (await GetAsync("/api/sensors/up-1/uptime?days=4")).GetProperty("buckets")[0];
        Assert.Equal(JsonValueKind.Null, longer.GetProperty("uptimePercent").ValueKind);

        foreach (var days in new[] { "0", "366", "-1", "x", "1.5" })
        {
            using var bad = await Operator.GetAsync(new Uri($"/api/sensors/up-1/uptime?days={days}", UriKind.Relative), Cancel);
            await AssertProblemAsync(bad, 400);
            using var badFleet = await Operator.GetAsync(new Uri($"/api/fleet/uptime?days={days}", UriKind.Relative), Cancel);
            await AssertProblemAsync(badFleet, 400);
        }

        // Without days: the last 30.
        Assert.Equal(30, (await GetAsync("/api/sensors/up-1/uptime")).GetProperty("buckets").GetArrayLength());
    }

    private async Task InsertAlertAsync(long sensorId, DateTimeOffset from, DateTimeOffset to) =>
        await Sql.ScalarAsync(running.ConnectionString,
            "INSERT INTO alert (sensor_id, kind, silent_since, raised_at, resolved_at) VALUES ($1, 'silent', $2, $2, $3)", sensorId, from, to);

    /// <summary>Provisions a sensor with the test threshold, sends one heartbeat and returns when it was stored.</summary>
    private async Task<DateTimeOffset> ProvisionedAndHeardAsync(string id, params string[] tags)
    {
        var (_, token) = await ProvisionAsync(Operator, id, new { id, tags, silenceThresholdSeconds = ThresholdSeconds });
        using var client = new HttpClient { BaseAddress = running.Server.BaseAddress };
        await StoredHeartbeatAsync(client, id, token);
        return (await GetAsync($"/api/sensors/{id}")).GetProperty("lastHeartbeatAt").GetDateTimeOffset();
    }

    private Task WaitForStatusAsync(string id, string status) =>
        Eventually.TrueAsync(
            async () => (await GetAsync($"/api/sensors/{id}")).GetProperty("status").GetString() == status, Patience, $"{id} is {status}");

    private async Task<int> AlertCountAsync(string id) =>
        (await GetAsync($"/api/alerts?sensor={id}&state=all")).GetProperty("items").GetArrayLength();

    private async Task<JsonElement> GetAsync(string path) =>
        await Operator.GetFromJsonAsync<JsonElement>(new Uri(path, UriKind.Relative), Cancel);

    private async Task<JsonElement> PostAsync(string path, object? body)
    {
        using var response = body is null
            ? await Operator.PostAsync(new Uri(path, UriKind.Relative), null, Cancel)
            : await Operator.PostAsJsonAsync(new Uri(path, UriKind.Relative), body, Cancel);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private Task<HttpResponseMessage> PatchAsync(string path, object body) =>
        Operator.PatchAsJsonAsync(new Uri(path, UriKind.Relative), body, Cancel);

    private Task<HttpResponseMessage> SendJsonAsync(HttpMethod method, string path, string body)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative)) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        return Operator.SendAsync(request, Cancel);
    }

    private static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Day(DateTimeOffset day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
