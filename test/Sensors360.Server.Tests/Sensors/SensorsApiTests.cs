using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>Sensor management over HTTP: provisioning, reading, paging, retiring, rotating tokens, and alerts.</summary>
public sealed class SensorsApiTests(RunningServer running) : IClassFixture<RunningServer>
{
    private HttpClient Operator => running.Operator;

    [Fact]
    public async Task Provisioning_returns_the_sensor_and_a_token_shown_only_once()
    {
        var (sensor, token) = await ProvisionAsync(Operator, "boiler-7", new { id = "boiler-7", tags = new[] { "plant-a" }, silenceThresholdSeconds = 600 });

        Assert.Equal(
            ["createdAt", "firstHeartbeatAt", "heartbeatCount", "id", "lastHeartbeatAt", "meanIntervalSeconds", "pausedUntil", "retiredReason", "silenceThresholdSeconds", "status", "tags", "token"],
            sensor.EnumerateObject().Select(property => property.Name).Order(StringComparer.Ordinal));
        Assert.Equal("boiler-7", sensor.GetProperty("id").GetString());
        Assert.Equal(["plant-a"], sensor.GetProperty("tags").EnumerateArray().Select(tag => tag.GetString()));
        Assert.Equal("pending", sensor.GetProperty("status").GetString());
        Assert.Equal(600, sensor.GetProperty("silenceThresholdSeconds").GetInt32());
        Assert.Equal(0, sensor.GetProperty("heartbeatCount").GetInt64());
        Assert.Equal(JsonValueKind.Null, sensor.GetProperty("meanIntervalSeconds").ValueKind);
        Assert.True(token.Length >= 40, "a token carries at least 128 random bits");

        var read = await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/sensors/boiler-7", UriKind.Relative));
        Assert.False(read.TryGetProperty("token", out _));
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor WHERE token_hash LIKE '%' || $1 || '%'", token));
    }

    [Theory]
    [InlineData("""{"id":""}""")]
    [InlineData("""{"id":"has space"}""")]
    [InlineData("""{"id":"0123456789012345678901234567890123456789012345678901234567890123456789"}""")]
    [InlineData("""{"id":"ok-id","tags":["bad tag"]}""")]
    [InlineData("""{"id":"ok-id","tags":["a","a"]}""")]
    [InlineData("""{"id":"ok-id","silenceThresholdSeconds":0}""")]
    [InlineData("""{"id":"ok-id","silenceThresholdSeconds":"ten"}""")]
    [InlineData("""{"id":"ok-id" """)]
    [InlineData("""[]""")]
    public async Task Invalid_provisioning_requests_get_400_with_a_problem_body(string body)
    {
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using var response = await Operator.PostAsync(new Uri("/api/sensors", UriKind.Relative), content);
        await AssertProblemAsync(response, 400);
    }

    [Fact]
    public async Task An_existing_id_gets_409_and_unknown_ids_404()
    {
        await ProvisionAsync(Operator, "dup-1");
        using var again = await Operator.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "dup-1" });
        await AssertProblemAsync(again, 409);

        foreach (var route in new[] { "/api/sensors/missing-1" })
        {
            using var get = await Operator.GetAsync(new Uri(route, UriKind.Relative));
            await AssertProblemAsync(get, 404);
        }

        using var retire = await Operator.PostAsync(new Uri("/api/sensors/missing-1/retire", UriKind.Relative), null);
        await AssertProblemAsync(retire, 404);
        using var rotate = await Operator.PostAsync(new Uri("/api/sensors/missing-1/token", UriKind.Relative), null);
        await AssertProblemAsync(rotate, 404);
    }

    [Fact]
    public async Task Sensor_routes_need_an_operator_session()
    {
        using var anonymous = new HttpClient { BaseAddress = running.Server.BaseAddress };
        using var list = await anonymous.GetAsync(new Uri("/api/sensors", UriKind.Relative));
        await AssertProblemAsync(list, 401);
        using var create = await anonymous.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "sneaky" });
        await AssertProblemAsync(create, 401);
        using var alerts = await anonymous.GetAsync(new Uri("/api/alerts", UriKind.Relative));
        await AssertProblemAsync(alerts, 401);
    }

    [Fact]
    public async Task Lists_page_by_cursor_and_filter_by_tag_and_status()
    {
        for (var i = 0; i < 5; i++)
        {
            // An hour's threshold: a sensor never heard from past its threshold is silent (never reported), not pending.
            await ProvisionAsync(Operator, $"page-{i}", new { id = $"page-{i}", tags = new[] { "paging" }, silenceThresholdSeconds = 3600 });
        }

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var query = $"/api/sensors?tag=paging&limit=2{(cursor is null ? "" : $"&cursor={cursor}")}";
            var page = await Operator.GetFromJsonAsync<JsonElement>(new Uri(query, UriKind.Relative));
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(item => item.GetProperty("id").GetString()!));
            cursor = page.GetProperty("nextCursor").GetString();
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(["page-0", "page-1", "page-2", "page-3", "page-4"], seen);
        Assert.Equal(3, pages);

        var pending = await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/sensors?tag=paging&status=pending", UriKind.Relative));
        Assert.Equal(5, pending.GetProperty("items").GetArrayLength());
        var online = await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/sensors?tag=paging&status=online", UriKind.Relative));
        Assert.Equal(0, online.GetProperty("items").GetArrayLength());

        foreach (var bad in new[] { "status=asleep", "limit=0", "limit=1001", "limit=ten", "cursor=%%%" })
        {
            using var response = await Operator.GetAsync(new Uri($"/api/sensors?{bad}", UriKind.Relative));
            await AssertProblemAsync(response, 400);
        }
    }

    [Fact]
    public async Task Heartbeats_make_a_sensor_online_and_feed_its_counters()
    {
        // Not about silence: a threshold longer than the test keeps it online whatever the machine's load.
        var (_, token) = await ProvisionAsync(Operator, "counter-1", new { id = "counter-1", silenceThresholdSeconds = 3600 });
        for (var i = 0; i < 3; i++)
        {
            await StoredHeartbeatAsync(running.Server.Http, "counter-1", token);
        }

        var sensor = await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/sensors/counter-1", UriKind.Relative));
        Assert.Equal("online", sensor.GetProperty("status").GetString());
        Assert.Equal(3, sensor.GetProperty("heartbeatCount").GetInt64());
        var first = sensor.GetProperty("firstHeartbeatAt").GetDateTimeOffset();
        var last = sensor.GetProperty("lastHeartbeatAt").GetDateTimeOffset();
        Assert.True(last > first);
        Assert.Equal((last - first).TotalSeconds / 2, sensor.GetProperty("meanIntervalSeconds").GetDouble(), precision: 6);
    }

    [Fact]
    public async Task A_silent_sensor_gets_an_alert_that_an_operator_acknowledges_and_a_heartbeat_resolves()
    {
        var (_, token) = await ProvisionAsync(Operator, "quiet-1");
        await StoredHeartbeatAsync(running.Server.Http, "quiet-1", token);

        // The fixture's threshold is 2 s: the alert appears without anyone asking.
        var open = await Eventually.MatchesAsync(
            () => Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/alerts?state=open&sensor=quiet-1", UriKind.Relative)),
            page => page.GetProperty("items").GetArrayLength() == 1,
            TimeSpan.FromSeconds(20),
            "an open alert for quiet-1");
        var alert = open.GetProperty("items")[0];
        Assert.Equal("silent", alert.GetProperty("kind").GetString());
        Assert.Equal("quiet-1", alert.GetProperty("sensorId").GetString());
        var sensor = await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/sensors/quiet-1", UriKind.Relative));
        Assert.Equal("silent", sensor.GetProperty("status").GetString());
        Assert.Equal(
            sensor.GetProperty("lastHeartbeatAt").GetDateTimeOffset() + TimeSpan.FromSeconds(2),
            alert.GetProperty("silentSince").GetDateTimeOffset());

        var alertId = alert.GetProperty("id").GetInt64();
        using (var ack = await Operator.PostAsync(new Uri($"/api/alerts/{alertId}/acknowledge", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.OK, ack.StatusCode);
            var acknowledged = await ack.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("admin", acknowledged.GetProperty("acknowledgedBy").GetString());
            Assert.Equal(JsonValueKind.String, acknowledged.GetProperty("acknowledgedAt").ValueKind);
        }

        await StoredHeartbeatAsync(running.Server.Http, "quiet-1", token);

        // By id: on a slow machine a never-reported alert, resolved by the first heartbeat, is in the list too.
        var resolved = await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/alerts?state=resolved&sensor=quiet-1", UriKind.Relative));
        Assert.Contains(resolved.GetProperty("items").EnumerateArray(), item => item.GetProperty("id").GetInt64() == alertId);
        var stillOpen = await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/alerts?state=open&sensor=quiet-1", UriKind.Relative));
        Assert.Equal(0, stillOpen.GetProperty("items").GetArrayLength());

        using var missing = await Operator.PostAsync(new Uri("/api/alerts/999999/acknowledge", UriKind.Relative), null);
        await AssertProblemAsync(missing, 404);
        using var badState = await Operator.GetAsync(new Uri("/api/alerts?state=closed", UriKind.Relative));
        await AssertProblemAsync(badState, 400);
    }

    [Fact]
    public async Task Retiring_ends_a_sensors_life_and_rotating_replaces_its_token()
    {
        var (_, token) = await ProvisionAsync(Operator, "rotor-1");
        using (var rotate = await Operator.PostAsync(new Uri("/api/sensors/rotor-1/token", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.OK, rotate.StatusCode);
            var fresh = (await rotate.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
            using var old = await HeartbeatAsync(running.Server.Http, "rotor-1", token);
            await AssertProblemAsync(old, 401);
            await StoredHeartbeatAsync(running.Server.Http, "rotor-1", fresh);
            token = fresh;
        }

        using (var retire = await Operator.PostAsync(new Uri("/api/sensors/rotor-1/retire", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.OK, retire.StatusCode);
            var retiredSensor = await retire.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("retired", retiredSensor.GetProperty("status").GetString());
            Assert.Equal("failed", retiredSensor.GetProperty("retiredReason").GetString());
        }

        using var afterRetire = await HeartbeatAsync(running.Server.Http, "rotor-1", token);
        await AssertProblemAsync(afterRetire, 410);
        using var rotateRetired = await Operator.PostAsync(new Uri("/api/sensors/rotor-1/token", UriKind.Relative), null);
        await AssertProblemAsync(rotateRetired, 409);
        var retired = await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/sensors?status=retired", UriKind.Relative));
        Assert.Contains(retired.GetProperty("items").EnumerateArray(), item => item.GetProperty("id").GetString() == "rotor-1");
    }

    [Fact]
    public async Task Retiring_takes_a_reason_and_a_time_that_is_neither_before_the_last_heartbeat_nor_in_the_future()
    {
        // Not about silence: a threshold no run of its nine requests can outlast keeps it online throughout.
        var (_, token) = await ProvisionAsync(Operator, "swapped-1", new { id = "swapped-1", silenceThresholdSeconds = 3600 });
        await StoredHeartbeatAsync(running.Server.Http, "swapped-1", token);

        var lastHeartbeat = (await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/sensors/swapped-1", UriKind.Relative)))
            .GetProperty("lastHeartbeatAt").GetDateTimeOffset();
        foreach (var (body, why) in new[]
        {
            ("""{"reason":"broken"}""", "unknown reason"),
            ("""{"reason":"Failed"}""", "reasons are lower case"),
            ("""{"at":"2026-11-27T19:45:00"}""", "a time without an offset"),
            ("""{"at":"yesterday"}""", "not a time"),
            ($$"""{"at":"{{DateTimeOffset.UtcNow.AddMinutes(5):O}}"}""", "in the future"),
            ($$"""{"at":"{{lastHeartbeat.AddSeconds(-1):O}}"}""", "before the last heartbeat"),
            ("""{"reason":""", "malformed JSON"),
        })
        {
            using var refused = await Operator.PostAsync(new Uri("/api/sensors/swapped-1/retire", UriKind.Relative), new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            Assert.True((int)refused.StatusCode == 400, $"{why}: {(int)refused.StatusCode}");
            await AssertProblemAsync(refused, 400);
        }

        Assert.Equal("online", (await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/sensors/swapped-1", UriKind.Relative))).GetProperty("status").GetString());

        var at = lastHeartbeat.AddMilliseconds(1);
        using var retire = await Operator.PostAsJsonAsync(new Uri("/api/sensors/swapped-1/retire", UriKind.Relative), new { reason = "decommissioned", at = at.ToString("O") });
        Assert.Equal(HttpStatusCode.OK, retire.StatusCode);
        var sensor = await retire.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("retired", sensor.GetProperty("status").GetString());
        Assert.Equal("decommissioned", sensor.GetProperty("retiredReason").GetString());
        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString,
            "SELECT count(*) FROM sensor WHERE name = 'swapped-1' AND retired_reason = 'decommissioned' AND retired_at = $1", at));

        // Retiring again keeps the first retirement.
        using var again = await Operator.PostAsJsonAsync(new Uri("/api/sensors/swapped-1/retire", UriKind.Relative), new { reason = "failed" });
        Assert.Equal("decommissioned", (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("retiredReason").GetString());
    }
}
