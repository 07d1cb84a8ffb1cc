using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Identity;
using Sensors360.Server.Operators;
using Sensors360.Server.Tests.Dashboard;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Import;

/// <summary>
/// <c>POST /api/import/heartbeats</c> and <c>POST /api/sensors/{id}/heartbeats</c> against a real server and
/// database: what is counted, stored and refused, what the sensors become, and who may import.
/// </summary>
public sealed class HeartbeatImportTests(RunningServer running, ITestOutputHelper output) : IClassFixture<RunningServer>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    // Whole seconds, so what the API returns compares exactly.
    private static DateTimeOffset Now => DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    [Fact]
    public async Task A_small_import_counts_stores_and_refuses_lines_by_number_and_a_second_one_finds_duplicates()
    {
        await ProvisionAsync(running.Operator, "imp-small", new { id = "imp-small", silenceThresholdSeconds = 3600 });
        var t0 = Now.AddDays(-2);
        var body = string.Join('\n',
            Line("imp-small", t0, """{"battery":0.9}"""),                          // 1
            Line("imp-small", t0.AddHours(1)),                                       // 2
            "not json",                                                              // 3
            Line("imp-nobody", t0),                                                  // 4
            Line("imp-small", Now.AddHours(1)),                                      // 5: future
            """{"sensor":"imp-small","at":"2026-11-27T19:45:00"}""",                 // 6: no offset
            """{"sensor":"imp-small","at":"2026-11-27T19:45:00Z","metrics":{"battery":"full"}}""", // 7
            "",                                                                      // 8: blank, ignored
            Line("imp-small", t0.AddHours(5)),                                       // 9: a four-hour gap before it
            Line("imp-small", t0.AddHours(6))) + "\n";                              // 10

        var first = await ImportAsync(running.Operator, body);
        Assert.Equal((4, 0, 5), (first.Imported, first.Duplicates, first.Rejected));
        Assert.Equal([3, 4, 5, 6, 7], first.Errors.Select(error => error.Line));
        Assert.All(first.Errors, error => Assert.False(string.IsNullOrWhiteSpace(error.Error)));
        Assert.Contains("future", first.Errors[2].Error, StringComparison.Ordinal);

        var second = await ImportAsync(running.Operator, body);
        Assert.Equal((0, 4, 5), (second.Imported, second.Duplicates, second.Rejected));

        var sensor = await GetSensorAsync("imp-small");
        Assert.Equal(t0, sensor.GetProperty("firstHeartbeatAt").GetDateTimeOffset());
        Assert.Equal(t0.AddHours(6), sensor.GetProperty("lastHeartbeatAt").GetDateTimeOffset());
        Assert.Equal(4, sensor.GetProperty("heartbeatCount").GetInt64());
        Assert.Equal(4, await Sql.ScalarAsync(running.ConnectionString,
            "SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = 'imp-small'"));
        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString,
            """SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = 'imp-small' AND h.metrics = '{"battery":0.9}'::jsonb"""));

        // Its last heartbeat is older than its threshold: silent from last + threshold, and the gap raised nothing.
        Assert.Equal("silent", sensor.GetProperty("status").GetString());
        var alerts = await ListAlertsAsync("imp-small");
        var alert = Assert.Single(alerts);
        Assert.Equal(t0.AddHours(7), alert.GetProperty("silentSince").GetDateTimeOffset());
    }

    [Fact]
    public async Task An_active_grain_sees_imported_heartbeats()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "imp-live", new { id = "imp-live", silenceThresholdSeconds = 3600 });
        await using var feed = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies);
        await feed.SendAsync("""{"type":"subscribe","sensors":["imp-live"]}""");
        await feed.SendAsync("""{"type":"ping"}""");
        await feed.WaitForAsync("pong", _ => true, Patience);
        await StoredHeartbeatAsync(running.Server.Http, "imp-live", token);

        await feed.WaitForAsync("sensor", message => Count(message, "imp-live") == 1, Patience);

        var t0 = Now.AddHours(-3);
        var result = await ImportAsync(running.Operator, string.Join('\n', Line("imp-live", t0), Line("imp-live", t0.AddHours(1)), Line("imp-live", t0.AddHours(2))));
        Assert.Equal(3, result.Imported);

        // The grain reloaded: the snapshot it pushes counts the history, as the database does.
        var pushed = await feed.WaitForAsync("sensor", message => Count(message, "imp-live") == 4, Patience);
        Assert.Equal(t0, pushed.GetProperty("sensor").GetProperty("firstHeartbeatAt").GetDateTimeOffset());
        var read = await GetSensorAsync("imp-live");
        Assert.Equal(4, read.GetProperty("heartbeatCount").GetInt64());
        Assert.Equal(t0, read.GetProperty("firstHeartbeatAt").GetDateTimeOffset());
        Assert.Equal("online", read.GetProperty("status").GetString());

        // And it goes on counting from there.
        await StoredHeartbeatAsync(running.Server.Http, "imp-live", token);

        await feed.WaitForAsync("sensor", message => Count(message, "imp-live") == 5, Patience);
        Assert.Equal(5, (await GetSensorAsync("imp-live")).GetProperty("heartbeatCount").GetInt64());
    }

    [Fact]
    public async Task Heartbeats_after_an_open_alerts_silence_began_resolve_it_at_the_first_of_them()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "imp-heal", new { id = "imp-heal", silenceThresholdSeconds = 3 });
        await StoredHeartbeatAsync(running.Server.Http, "imp-heal", token);

        // The silence after the heartbeat; on a slow machine a never-reported alert, resolved by it, is listed too.
        var open = (await Eventually.MatchesAsync(
            () => ListAlertsAsync("imp-heal"),
            alerts => alerts.Count(alert => alert.GetProperty("kind").GetString() == "silent") == 1,
            Patience,
            "imp-heal went silent")).Single(alert => alert.GetProperty("kind").GetString() == "silent");
        var silentSince = open.GetProperty("silentSince").GetDateTimeOffset();
        var raisedAt = open.GetProperty("raisedAt").GetDateTimeOffset();

        // The sensor had in fact reported, it just could not send: its buffer arrives as an import.
        var firstAfter = silentSince.AddMilliseconds(500);
        var result = await ImportAsync(running.Operator, string.Join('\n', Line("imp-heal", firstAfter), Line("imp-heal", firstAfter.AddSeconds(1))));
        Assert.Equal(2, result.Imported);

        var resolved = await Eventually.MatchesAsync(
            async () => (await ListAlertsAsync("imp-heal")).Single(alert => alert.GetProperty("id").GetInt64() == open.GetProperty("id").GetInt64()),
            alert => alert.GetProperty("resolvedAt").ValueKind == JsonValueKind.String,
            Patience,
            "the alert resolved");
        var expected = firstAfter > raisedAt ? firstAfter : raisedAt;
        Assert.Equal(expected, resolved.GetProperty("resolvedAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task A_year_old_history_gets_its_own_monthly_partitions()
    {
        await ProvisionAsync(running.Operator, "imp-old", new { id = "imp-old", silenceThresholdSeconds = 3600 });
        var t0 = Now.AddDays(-400);
        var lines = Enumerable.Range(0, 60).Select(day => Line("imp-old", t0.AddDays(day)));

        var result = await ImportAsync(running.Operator, string.Join('\n', lines));

        Assert.Equal((60, 0), (result.Imported, result.Rejected));
        var month = t0.UtcDateTime.ToString("yyyy_MM", CultureInfo.InvariantCulture);
        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString, $"SELECT count(*) FROM pg_class WHERE relname = 'heartbeat_{month}'"));
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString,
            "SELECT count(*) FROM heartbeat_default h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = 'imp-old'"));
        Assert.Equal(60, (await GetSensorAsync("imp-old")).GetProperty("heartbeatCount").GetInt64());
    }

    [Fact]
    public async Task A_retired_sensor_takes_history_up_to_its_retirement_only()
    {
        await ProvisionAsync(running.Operator, "imp-retired", new { id = "imp-retired", silenceThresholdSeconds = 3600 });
        var retiredAt = Now.AddDays(-1);
        using (var retire = await running.Operator.PostAsJsonAsync(new Uri("/api/sensors/imp-retired/retire", UriKind.Relative),
            new { reason = "decommissioned", at = retiredAt.ToString("O", CultureInfo.InvariantCulture) }))
        {
            Assert.Equal(HttpStatusCode.OK, retire.StatusCode);
        }

        var result = await ImportAsync(running.Operator, string.Join('\n', Line("imp-retired", retiredAt.AddHours(-2)), Line("imp-retired", retiredAt), Line("imp-retired", retiredAt.AddSeconds(1))));

        Assert.Equal((2, 1), (result.Imported, result.Rejected));
        Assert.Equal(3, Assert.Single(result.Errors).Line);
        var sensor = await GetSensorAsync("imp-retired");
        Assert.Equal("retired", sensor.GetProperty("status").GetString());
        Assert.Empty(await ListAlertsAsync("imp-retired"));
    }

    [Fact]
    public async Task Only_admins_may_import_and_only_NDJSON()
    {
        using (var anonymous = await PostNdjsonAsync(running.Server.Http, Line("imp-small", Now)))
        {
            await AssertProblemAsync(anonymous, 401);
        }

        const string password = "imp-operator-password";
        var hash = new PasswordHasher<OperatorAccount>().HashPassword(new OperatorAccount(0, "imp-operator", "", OperatorRoles.Operator), password);
        await Sql.ScalarAsync(running.ConnectionString, "INSERT INTO app_user (username, password_hash, role) VALUES ('imp-operator', $1, 'operator')", hash);
        using var operatorClient = await running.Server.LoginAsync("imp-operator", password);
        using (var forbidden = await PostNdjsonAsync(operatorClient, Line("imp-small", Now)))
        {
            await AssertProblemAsync(forbidden, 403);
        }

        using var plain = new StringContent(Line("imp-small", Now), Encoding.UTF8, "application/json");
        using (var wrongType = await running.Operator.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), plain))
        {
            await AssertProblemAsync(wrongType, 415);
        }
    }

    [Fact]
    public async Task A_line_over_64_KiB_is_refused_and_the_lines_after_it_are_imported()
    {
        await ProvisionAsync(running.Operator, "imp-long", new { id = "imp-long", silenceThresholdSeconds = 3600 });
        var t0 = Now.AddHours(-1);
        var longLine = "{\"sensor\":\"imp-long\",\"pad\":\"" + new string('x', 200_000) + "\"}";
        var result = await ImportAsync(running.Operator, string.Join('\n', Line("imp-long", t0), longLine, Line("imp-long", t0.AddMinutes(1))));

        Assert.Equal((2, 1), (result.Imported, result.Rejected));
        Assert.Equal(2, Assert.Single(result.Errors).Line);
    }

    [Fact]
    public async Task A_300000_line_body_streamed_from_a_generator_is_imported_whole()
    {
        const int sensors = 50;
        const int perSensor = 6_000;
        foreach (var i in Enumerable.Range(0, sensors))
        {
            await ProvisionAsync(running.Operator, $"imp-bulk-{i:00}", new { id = $"imp-bulk-{i:00}", tags = new[] { "imp-bulk" }, silenceThresholdSeconds = 3600 });
        }

        // Never held in memory: the lines are made as the request reads them (about 30 MB, over Kestrel's default body cap).
        var start = Now.AddDays(-30);
        using var content = new StreamContent(new GeneratedLinesStream(sensors * perSensor, n =>
            $$"""{"sensor":"imp-bulk-{{n % sensors:00}}","at":"{{start.AddSeconds(n / sensors * 60).ToString("O", CultureInfo.InvariantCulture)}}","metrics":{"battery":0.5,"temperatureC":{{n % 40}}""" + "}}\n"), 64 * 1024);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        using var client = LongClient();
        var clock = Stopwatch.StartNew();
        using var response = await client.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), content, TestContext.Current.CancellationToken);
        var elapsed = clock.Elapsed;
        var result = await ReadResultAsync(response);

        Assert.Equal((sensors * perSensor, 0, 0), (result.Imported, result.Duplicates, result.Rejected));
        Assert.Equal(sensors * perSensor, await Sql.ScalarAsync(running.ConnectionString, "SELECT sum(heartbeat_count) FROM sensor_status_rebuilt WHERE 'imp-bulk' = ANY (tags)"));
        output.WriteLine($"Imported {result.Imported} lines in {elapsed.TotalSeconds:0.00} s: {result.Imported / elapsed.TotalSeconds:0} lines/s (client, server and database on this machine).");
    }

    [Fact]
    public async Task Buffered_heartbeats_are_stored_before_204_and_a_repeated_one_is_fine()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "buf-1", new { id = "buf-1", silenceThresholdSeconds = 3600 });
        var t0 = Now.AddMinutes(-30);
        var body = Buffered((t0, """{"battery":0.7}"""), (t0.AddMinutes(1), null), (t0.AddMinutes(1), null));

        using (var response = await PostBufferedAsync("buf-1", token, body))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        var sensor = await GetSensorAsync("buf-1");
        Assert.Equal((2, "online"), (sensor.GetProperty("heartbeatCount").GetInt64(), sensor.GetProperty("status").GetString()));
        Assert.Equal(t0.AddMinutes(1), sensor.GetProperty("lastHeartbeatAt").GetDateTimeOffset());

        // Sent again (the sensor never saw the 204): nothing is stored twice.
        using (var again = await PostBufferedAsync("buf-1", token, body))
        {
            Assert.Equal(HttpStatusCode.NoContent, again.StatusCode);
        }

        Assert.Equal(2, (await GetSensorAsync("buf-1")).GetProperty("heartbeatCount").GetInt64());
    }

    [Fact]
    public async Task Buffered_heartbeats_with_a_wrong_token_too_many_or_a_bad_item_store_nothing()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "buf-2", new { id = "buf-2", silenceThresholdSeconds = 3600 });
        var t0 = Now.AddHours(-2);

        using (var wrong = await PostBufferedAsync("buf-2", "s360_not-the-token", Buffered((t0, null))))
        {
            await AssertProblemAsync(wrong, 401);
        }

        var tooMany = Buffered([.. Enumerable.Range(0, 1_001).Select(i => (t0.AddSeconds(i), (string?)null))]);
        using (var response = await PostBufferedAsync("buf-2", token, tooMany))
        {
            await AssertProblemAsync(response, 413);
        }

        var future = Buffered((t0, null), (Now.AddHours(1), null));
        using (var response = await PostBufferedAsync("buf-2", token, future))
        {
            await AssertProblemAsync(response, 400);
            Assert.Contains("heartbeats[1]", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var badMetrics = Buffered((t0, """{"battery":"full"}"""));
        using (var response = await PostBufferedAsync("buf-2", token, badMetrics))
        {
            await AssertProblemAsync(response, 400);
        }

        Assert.Equal(0, (await GetSensorAsync("buf-2")).GetProperty("heartbeatCount").GetInt64());
    }

    [Fact]
    public async Task The_interval_histogram_counts_exactly_the_intervals_between_stored_heartbeats_after_live_imported_and_buffered_ones()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "imp-split", new { id = "imp-split", silenceThresholdSeconds = 3600 });
        for (var i = 0; i < 3; i++)
        {
            await StoredHeartbeatAsync(running.Server.Http, "imp-split", token);
        }

        var live = (await running.Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/sensors/imp-split/heartbeats", UriKind.Relative)))
            .GetProperty("items").EnumerateArray().Select(item => item.GetProperty("at").GetDateTimeOffset()).Order().ToArray();
        Assert.Equal(3, live.Length);

        // Older history, one heartbeat between the first two live ones (splitting their interval), and a duplicate.
        var between = live[0] + ((live[1] - live[0]) / 2);
        var body = string.Join('\n', Line("imp-split", live[0].AddHours(-2)), Line("imp-split", live[0].AddHours(-1)), Line("imp-split", between), Line("imp-split", live[2])) + "\n";
        var imported = await ImportAsync(running.Operator, body);
        Assert.Equal((3, 1), (imported.Imported, imported.Duplicates));
        using (var buffered = await PostBufferedAsync("imp-split", token, Buffered((live[0].AddMinutes(-30), null), (live[2].AddMilliseconds(1), null))))
        {
            Assert.Equal(HttpStatusCode.NoContent, buffered.StatusCode);
        }

        // History around what is stored without touching it: before it, in a gap between two stored ones, and after it.
        var (_, freshToken) = await ProvisionAsync(running.Operator, "imp-around", new { id = "imp-around", silenceThresholdSeconds = 3600 });
        await StoredHeartbeatAsync(running.Server.Http, "imp-around", freshToken);

        var stored = (await GetSensorAsync("imp-around")).GetProperty("lastHeartbeatAt").GetDateTimeOffset();
        Assert.Equal(2, (await ImportAsync(running.Operator, Line("imp-around", stored.AddHours(-3)) + "\n" + Line("imp-around", stored.AddHours(-1)) + "\n")).Imported);
        Assert.Equal(3, (await ImportAsync(running.Operator, string.Join('\n',
            Line("imp-around", stored.AddHours(-2.5)), Line("imp-around", stored.AddHours(-2)), Line("imp-around", stored.AddHours(-2))) + "\n")).Imported + 1);
        Assert.Equal(1, (await ImportAsync(running.Operator, Line("imp-around", stored.AddSeconds(2)) + "\n")).Imported);

        // The histogram counts the intervals a sensor's checkpoint has passed: once every sensor's checkpoint is at its
        // last stored heartbeat (within the checkpoint period), whatever the class's other tests stored too, it equals
        // a count over every stored heartbeat.
        await Eventually.TrueAsync(
            async () => await Sql.ScalarAsync(running.ConnectionString, """
                SELECT count(*) FROM sensor s
                WHERE s.last_heartbeat_at IS DISTINCT FROM (SELECT max(h.received_at) FROM heartbeat h WHERE h.sensor_id = s.id)
                """) == 0,
            Patience,
            "every sensor's checkpoint reached its last heartbeat");
        const string ByHistogram = "SELECT bucket, sum(intervals) FROM heartbeat_interval_histogram GROUP BY bucket HAVING sum(intervals) <> 0";
        const string ByHeartbeats = """
            SELECT heartbeat_interval_bucket(gap), count(*)
            FROM (SELECT extract(epoch FROM received_at - lag(received_at) OVER (PARTITION BY sensor_id ORDER BY received_at))::float8 AS gap FROM heartbeat) AS g
            WHERE gap IS NOT NULL GROUP BY 1
            """;
        Assert.Equal(await BucketsAsync(ByHeartbeats), await BucketsAsync(ByHistogram));
        Assert.Equal(8, await Sql.ScalarAsync(running.ConnectionString, "SELECT heartbeat_count FROM sensor_status_rebuilt WHERE name = 'imp-split'"));
    }

    private async Task<SortedDictionary<short, long>> BucketsAsync(string sql)
    {
        await using var db = Npgsql.NpgsqlDataSource.Create(running.ConnectionString);
        await using var command = db.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var buckets = new SortedDictionary<short, long>();
        while (await reader.ReadAsync())
        {
            buckets[reader.GetInt16(0)] = reader.GetInt64(1);
        }

        return buckets;
    }

    private static string Line(string sensor, DateTimeOffset at, string? metrics = null) =>
        metrics is null
            ? $$"""{"sensor":"{{sensor}}","at":"{{at.ToString("O", CultureInfo.InvariantCulture)}}"}"""
            : $$"""{"sensor":"{{sensor}}","at":"{{at.ToString("O", CultureInfo.InvariantCulture)}}","metrics":{{metrics}}}""";

    private static string Buffered(params (DateTimeOffset At, string? Metrics)[] heartbeats) =>
        "{\"heartbeats\":[" + string.Join(',', heartbeats.Select(heartbeat => heartbeat.Metrics is null
            ? $$"""{"at":"{{heartbeat.At.ToString("O", CultureInfo.InvariantCulture)}}"}"""
            : $$"""{"at":"{{heartbeat.At.ToString("O", CultureInfo.InvariantCulture)}}","metrics":{{heartbeat.Metrics}}}""")) + "]}";

    private static int Count(JsonElement message, string id)
    {
        var sensor = message.GetProperty("sensor");
        return sensor.GetProperty("id").GetString() == id ? (int)sensor.GetProperty("heartbeatCount").GetInt64() : -1;
    }

    private async Task<HttpResponseMessage> PostBufferedAsync(string id, string token, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/api/sensors/{id}/heartbeats", UriKind.Relative))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await running.Server.Http.SendAsync(request);
    }

    private static async Task<HttpResponseMessage> PostNdjsonAsync(HttpClient client, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/x-ndjson");
        return await client.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), content);
    }

    private static async Task<ImportResult> ImportAsync(HttpClient client, string body)
    {
        using var response = await PostNdjsonAsync(client, body);
        return await ReadResultAsync(response);
    }

    private static async Task<ImportResult> ReadResultAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"Import: {(int)response.StatusCode} {text}");
        return JsonSerializer.Deserialize<ImportResult>(text, JsonSerializerOptions.Web)!;
    }

    private async Task<JsonElement> GetSensorAsync(string id) =>
        await running.Operator.GetFromJsonAsync<JsonElement>(new Uri($"/api/sensors/{id}", UriKind.Relative));

    private async Task<List<JsonElement>> ListAlertsAsync(string id)
    {
        var page = await running.Operator.GetFromJsonAsync<JsonElement>(new Uri($"/api/alerts?state=all&sensor={id}", UriKind.Relative));
        return [.. page.GetProperty("items").EnumerateArray()];
    }

    /// <summary>The fixture's admin session with room for a long upload.</summary>
    private HttpClient LongClient() => new(running.Server.NewHandler(running.OperatorCookies))
    {
        BaseAddress = running.Server.BaseAddress,
        Timeout = TimeSpan.FromMinutes(5),
        DefaultRequestHeaders = { { "Origin", running.Server.Origin } },
    };

    private sealed record ImportResult(long Imported, long Duplicates, long Rejected, List<ImportErrorLine> Errors);

    private sealed record ImportErrorLine(long Line, string Error);
}
