using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>
/// A sensor's past over HTTP: <c>GET /api/sensors/{id}/heartbeats</c> and <c>/series</c>. Heartbeats are placed by
/// SQL at chosen times (before this month they land in <c>heartbeat_default</c>, which reads see like any month).
/// </summary>
public sealed class HeartbeatHistoryApiTests(RunningServer running) : IClassFixture<RunningServer>
{
    private static readonly DateTimeOffset Base = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private HttpClient Operator => running.Operator;

    [Fact]
    public async Task Heartbeats_come_newest_first_within_from_inclusive_to_exclusive_with_their_metrics()
    {
        await ProvisionAsync(Operator, "hist-order");
        await ProvisionAsync(Operator, "hist-order-other");
        for (var i = 0; i < 5; i++)
        {
            await InsertAsync("hist-order", Base.AddSeconds(10 * i), i == 2 ? null : $$"""{"battery":0.{{i}}5,"temperatureC":-{{i}}.5}""");
            // Another sensor's beats at the same times must never show up.
            await InsertAsync("hist-order-other", Base.AddSeconds(10 * i), """{"battery":99}""");
        }

        var all = await GetAsync("/api/sensors/hist-order/heartbeats");
        Assert.Equal([40, 30, 20, 10, 0], Seconds(all));
        Assert.Equal(JsonValueKind.Null, all.GetProperty("next").ValueKind);
        var items = all.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(["at", "metrics"], items[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(0.45, items[0].GetProperty("metrics").GetProperty("battery").GetDouble());
        Assert.Equal(-4.5, items[0].GetProperty("metrics").GetProperty("temperatureC").GetDouble());
        Assert.Equal(JsonValueKind.Null, items[2].GetProperty("metrics").ValueKind);
        Assert.Equal(0.05, items[4].GetProperty("metrics").GetProperty("battery").GetDouble());

        // from is inclusive, to exclusive; an offset other than Z names the same instant.
        var window = await GetAsync($"/api/sensors/hist-order/heartbeats?from={Q(Base.AddSeconds(10))}&to=2026-03-01T13:00:30%2B01:00");
        Assert.Equal([20, 10], Seconds(window));
        var fromOnly = await GetAsync($"/api/sensors/hist-order/heartbeats?from={Q(Base.AddSeconds(30))}");
        Assert.Equal([40, 30], Seconds(fromOnly));
        var toOnly = await GetAsync($"/api/sensors/hist-order/heartbeats?to={Q(Base.AddSeconds(10))}");
        Assert.Equal([0], Seconds(toOnly));
        var empty = await GetAsync($"/api/sensors/hist-order/heartbeats?from={Q(Base.AddSeconds(20))}&to={Q(Base.AddSeconds(20))}");
        Assert.Empty(Seconds(empty));
    }

    [Fact]
    public async Task A_live_heartbeat_is_read_back_with_its_metrics()
    {
        var (_, token) = await ProvisionAsync(Operator, "hist-live");
        using (var sent = await HeartbeatAsync(Operator, "hist-live", token, """{"metrics":{"battery":0.82,"temperatureC":41.5}}"""))
        {
            Assert.Equal(System.Net.HttpStatusCode.NoContent, sent.StatusCode);
        }

        var page = await GetAsync("/api/sensors/hist-live/heartbeats");
        var item = Assert.Single(page.GetProperty("items").EnumerateArray());
        Assert.Equal("""{"battery":0.82,"temperatureC":41.5}""", JsonSerializer.Serialize(item.GetProperty("metrics")));
        var sensor = await GetAsync("/api/sensors/hist-live");
        Assert.Equal(sensor.GetProperty("lastHeartbeatAt").GetDateTimeOffset(), item.GetProperty("at").GetDateTimeOffset());
    }

    [Fact]
    public async Task The_cursor_pages_through_every_heartbeat_exactly_once()
    {
        await ProvisionAsync(Operator, "hist-pages");
        for (var i = 0; i < 7; i++)
        {
            await InsertAsync("hist-pages", Base.AddMinutes(i).AddTicks(i * 10), $$"""{"n":{{i}}}""");
        }

        var seen = new List<double>();
        var sizes = new List<int>();
        string? cursor = null;
        do
        {
            var page = await GetAsync($"/api/sensors/hist-pages/heartbeats?limit=3{(cursor is null ? "" : $"&cursor={cursor}")}");
            var items = page.GetProperty("items").EnumerateArray().ToList();
            sizes.Add(items.Count);
            seen.AddRange(items.Select(item => item.GetProperty("metrics").GetProperty("n").GetDouble()));
            cursor = page.GetProperty("next").GetString();
        }
        while (cursor is not null);

        Assert.Equal([6, 5, 4, 3, 2, 1, 0], seen);
        Assert.Equal([3, 3, 1], sizes);

        // The cursor and a range together: only the range's rows, still each once.
        seen.Clear();
        cursor = null;
        do
        {
            var page = await GetAsync(
                $"/api/sensors/hist-pages/heartbeats?limit=2&from={Q(Base.AddMinutes(1))}&to={Q(Base.AddMinutes(5))}{(cursor is null ? "" : $"&cursor={cursor}")}");
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(item => item.GetProperty("metrics").GetProperty("n").GetDouble()));
            cursor = page.GetProperty("next").GetString();
        }
        while (cursor is not null);

        Assert.Equal([4, 3, 2, 1], seen);
    }

    [Theory]
    [InlineData("/api/sensors/hist-bad/heartbeats?from=yesterday")]
    [InlineData("/api/sensors/hist-bad/heartbeats?from=2026-03-01T12:00:00")]
    [InlineData("/api/sensors/hist-bad/heartbeats?to=2026-03-01")]
    [InlineData("/api/sensors/hist-bad/heartbeats?from=2026-03-01T12:00:01Z&to=2026-03-01T12:00:00Z")]
    [InlineData("/api/sensors/hist-bad/heartbeats?limit=0")]
    [InlineData("/api/sensors/hist-bad/heartbeats?limit=1001")]
    [InlineData("/api/sensors/hist-bad/heartbeats?limit=ten")]
    [InlineData("/api/sensors/hist-bad/heartbeats?cursor=%25%25%25")]
    [InlineData("/api/sensors/hist-bad/heartbeats?cursor=bm90LWEtdGltZQ")]
    [InlineData("/api/sensors/bad%20id/heartbeats")]
    [InlineData("/api/sensors/hist-bad/series?metric=bad%20name")]
    [InlineData("/api/sensors/hist-bad/series?metric=abcdefghijabcdefghijabcdefghijabc")]
    [InlineData("/api/sensors/hist-bad/series?metric=")]
    [InlineData("/api/sensors/hist-bad/series?points=0")]
    [InlineData("/api/sensors/hist-bad/series?points=1001")]
    [InlineData("/api/sensors/hist-bad/series?points=-5")]
    [InlineData("/api/sensors/hist-bad/series?from=2026-03-01T12:00:00Z&to=2026-03-01T12:00:00Z")]
    [InlineData("/api/sensors/hist-bad/series?from=2026-03-01T13:00:00Z&to=2026-03-01T12:00:00Z")]
    [InlineData("/api/sensors/hist-bad/series?to=noon")]
    [InlineData("/api/sensors/hist-bad/series?to=0001-01-01T00:00:00Z")]
    [InlineData("/api/sensors/hist-bad/heartbeats?from=0001-01-01T00:00:00%2B01:00")]
    [InlineData("/api/sensors/bad%20id/series")]
    public async Task Bad_queries_get_400_with_a_problem_body(string query)
    {
        await EnsureSensorAsync("hist-bad");
        using var response = await Operator.GetAsync(new Uri(query, UriKind.Relative));
        await AssertProblemAsync(response, 400);
    }

    [Fact]
    public async Task Unknown_sensors_get_404_and_anonymous_callers_401()
    {
        using (var heartbeats = await Operator.GetAsync(new Uri("/api/sensors/hist-missing/heartbeats", UriKind.Relative)))
        {
            await AssertProblemAsync(heartbeats, 404);
        }

        using (var series = await Operator.GetAsync(new Uri("/api/sensors/hist-missing/series?metric=battery", UriKind.Relative)))
        {
            await AssertProblemAsync(series, 404);
        }

        await EnsureSensorAsync("hist-private");
        using var anonymous = new HttpClient { BaseAddress = running.Server.BaseAddress };
        using var list = await anonymous.GetAsync(new Uri("/api/sensors/hist-private/heartbeats", UriKind.Relative));
        await AssertProblemAsync(list, 401);
        using var chart = await anonymous.GetAsync(new Uri("/api/sensors/hist-private/series", UriKind.Relative));
        await AssertProblemAsync(chart, 401);
    }

    [Fact]
    public async Task A_series_has_every_bucket_with_hand_computed_counts_and_statistics()
    {
        await ProvisionAsync(Operator, "hist-series");
        await ProvisionAsync(Operator, "hist-series-other");
        // One hour from Base in 6 buckets of 10 minutes.
        await InsertAsync("hist-series", Base.AddMinutes(-1), """{"battery":50}""");             // before from: out
        await InsertAsync("hist-series", Base.AddMinutes(1), """{"battery":1}""");               // bucket 0
        await InsertAsync("hist-series", Base.AddMinutes(5), """{"battery":2}""");               // bucket 0
        await InsertAsync("hist-series", Base.AddMinutes(12), """{"battery":3}""");              // bucket 1
        await InsertAsync("hist-series", Base.AddMinutes(15), """{"battery":"low"}""");          // bucket 1: not a number
        // bucket 2 (20–30 min): nothing at all
        await InsertAsync("hist-series", Base.AddMinutes(30), """{"battery":4}""");              // bucket 3: its start is inside
        await InsertAsync("hist-series", Base.AddMinutes(35), """{"temperatureC":20}""");        // bucket 3: another metric only
        await InsertAsync("hist-series", Base.AddMinutes(39), """{"battery":5,"x":1}""");        // bucket 3
        await InsertAsync("hist-series", Base.AddMinutes(45), """{"battery":6}""");              // bucket 4
        await InsertAsync("hist-series", Base.AddMinutes(55), null);                             // bucket 5: no metrics
        await InsertAsync("hist-series", Base.AddMinutes(60), """{"battery":100}""");            // at `to`: out
        await InsertAsync("hist-series-other", Base.AddMinutes(25), """{"battery":99}""");       // another sensor: out

        var range = $"from={Q(Base)}&to={Q(Base.AddHours(1))}&points=6";
        var battery = await GetAsync($"/api/sensors/hist-series/series?metric=battery&{range}");
        Assert.Equal("battery", battery.GetProperty("metric").GetString());
        Assert.Equal(Base, battery.GetProperty("from").GetDateTimeOffset());
        Assert.Equal(Base.AddHours(1), battery.GetProperty("to").GetDateTimeOffset());
        Assert.Equal(600, battery.GetProperty("bucketSeconds").GetInt64());
        Assert.Equal(
            [
                "12:00:00 2 1 2 1.5",
                "12:10:00 1 3 3 3",
                "12:20:00 0 - - -",
                "12:30:00 2 4 5 4.5",
                "12:40:00 1 6 6 6",
                "12:50:00 0 - - -",
            ],
            Points(battery));

        var beats = await GetAsync($"/api/sensors/hist-series/series?{range}");
        Assert.Equal(JsonValueKind.Null, beats.GetProperty("metric").ValueKind);
        Assert.Equal(
            [
                "12:00:00 2 - - -",
                "12:10:00 2 - - -",
                "12:20:00 0 - - -",
                "12:30:00 3 - - -",
                "12:40:00 1 - - -",
                "12:50:00 1 - - -",
            ],
            Points(beats));

        // A metric the sensor never sent: every bucket present and empty.
        var missing = await GetAsync($"/api/sensors/hist-series/series?metric=humidity&{range}");
        Assert.Equal(["12:00:00 0 - - -", "12:10:00 0 - - -", "12:20:00 0 - - -", "12:30:00 0 - - -", "12:40:00 0 - - -", "12:50:00 0 - - -"], Points(missing));
    }

    [Fact]
    public async Task Buckets_are_whole_seconds_and_never_more_than_the_points_asked_for()
    {
        await EnsureSensorAsync("hist-widths");

        // 3600 s in at most 7 buckets: 515 s each (514.3 rounded up), which takes 7 of them to cover the hour.
        var seven = await GetAsync($"/api/sensors/hist-widths/series?from={Q(Base)}&to={Q(Base.AddHours(1))}&points=7");
        Assert.Equal(515, seven.GetProperty("bucketSeconds").GetInt64());
        Assert.Equal(
            ["12:00:00", "12:08:35", "12:17:10", "12:25:45", "12:34:20", "12:42:55", "12:51:30"],
            seven.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("at").GetDateTimeOffset().ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)));

        // 90 s asked in 200 points: buckets cannot be shorter than a second, so 90 of them.
        var brief = await GetAsync($"/api/sensors/hist-widths/series?from={Q(Base)}&to={Q(Base.AddSeconds(90))}");
        Assert.Equal(1, brief.GetProperty("bucketSeconds").GetInt64());
        Assert.Equal(90, brief.GetProperty("points").GetArrayLength());

        // Without a range: the last 24 hours in 200 buckets of 432 s.
        var day = await GetAsync("/api/sensors/hist-widths/series");
        Assert.Equal(432, day.GetProperty("bucketSeconds").GetInt64());
        Assert.Equal(200, day.GetProperty("points").GetArrayLength());
        Assert.Equal(TimeSpan.FromHours(24), day.GetProperty("to").GetDateTimeOffset() - day.GetProperty("from").GetDateTimeOffset());
    }

    private async Task EnsureSensorAsync(string id)
    {
        using var response = await Operator.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id });
        Assert.True(response.StatusCode is System.Net.HttpStatusCode.Created or System.Net.HttpStatusCode.Conflict, $"{id}: {(int)response.StatusCode}");
    }

    private async Task InsertAsync(string sensor, DateTimeOffset at, string? metrics)
    {
        if (metrics is null)
        {
            await Sql.ScalarAsync(running.ConnectionString, "INSERT INTO heartbeat (sensor_id, received_at) SELECT id, $2 FROM sensor WHERE name = $1", sensor, at);
            return;
        }

        await Sql.ScalarAsync(
            running.ConnectionString, "INSERT INTO heartbeat (sensor_id, received_at, metrics) SELECT id, $2, $3::jsonb FROM sensor WHERE name = $1", sensor, at, metrics);
    }

    private async Task<JsonElement> GetAsync(string path)
    {
        using var response = await Operator.GetAsync(new Uri(path, UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static string Q(DateTimeOffset instant) => Uri.EscapeDataString(instant.ToString("yyyy-MM-ddTHH:mm:ss.fffffffzzz", System.Globalization.CultureInfo.InvariantCulture));

    private static int[] Seconds(JsonElement page) =>
        page.GetProperty("items").EnumerateArray().Select(item => (int)(item.GetProperty("at").GetDateTimeOffset() - Base).TotalSeconds).ToArray();

    /// <summary>Each point as "start count min max mean", "-" for null, so a whole series compares as one literal.</summary>
    private static string[] Points(JsonElement series) =>
        series.GetProperty("points").EnumerateArray().Select(point =>
        {
            string Number(string name) => point.GetProperty(name).ValueKind == JsonValueKind.Null
                ? "-"
                : point.GetProperty(name).GetDouble().ToString(System.Globalization.CultureInfo.InvariantCulture);
            var at = point.GetProperty("at").GetDateTimeOffset().ToUniversalTime().ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
            return $"{at} {point.GetProperty("count").GetInt64()} {Number("min")} {Number("max")} {Number("mean")}";
        }).ToArray();
}
