using System.Text.Json;
using System.Web;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Sensors360.Dashboard.Tests;

/// <summary>
/// The sensor dialog's history (timeline with its gaps, a chart per metric) and the Lifespan panel, in the browser
/// without a server: the page's markup without its own script, the API answered from literals here, and Playwright's
/// clock standing in for the 30 s and 60 s refresh gaps.
/// </summary>
public sealed class HistoryChartsTests
{
    private const string SensorId = "hist-7";

    // 12:00–13:00 in six 10-minute buckets; 12:20–12:30 is empty.
    private static readonly object Beats = Series(null, (2, null, null, null), (2, null, null, null), (0, null, null, null), (3, null, null, null), (1, null, null, null), (1, null, null, null));
    private static readonly object Battery = Series("battery", (2, 1, 2, 1.5), (1, 3, 3, 3), (0, null, null, null), (2, 4, 5, 4.5), (1, 6, 6, 6), (0, null, null, null));
    private static readonly object Temperature = Series("temperatureC", (0, null, null, null), (0, null, null, null), (0, null, null, null), (0, null, null, null), (0, null, null, null), (0, null, null, null));

    // Playwright answers routes on threads of its own.
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _seriesQueries = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _pageErrors = new();
    private int _latestReads;
    private int _lifespanReads;
    private int _lifespanStatus = 200;

    [Fact]
    public async Task The_dialog_shows_a_timeline_with_its_gap_and_a_chart_per_metric_and_refreshes_only_after_frames_and_30_seconds()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await OpenAsync(browser);
        await Wwwroot.OpenSensorDetailAsync(page, SensorId);

        // The timeline: six buckets, one empty, drawn with no bar where the gap is.
        var timeline = page.Locator("#detail-timeline");
        await Expect(timeline).ToHaveAttributeAsync("data-drawn", "data");
        await Expect(timeline).ToHaveAttributeAsync("data-buckets", "6");
        await Expect(timeline).ToHaveAttributeAsync("data-empty-buckets", "1");
        await Expect(page.Locator("#detail-timeline-summary")).ToHaveTextAsync("9 heartbeats; 1 gap: 12:20–12:30.");
        var bars = await BarsPerBucketAsync(page, "#detail-timeline");
        Assert.Equal(new[] { true, true, false, true, true, true }, bars);

        // One chart per metric of the latest heartbeat, each from its own series.
        var figures = page.Locator("#detail-metrics figure[data-metric]");
        await Expect(figures).ToHaveCountAsync(2);
        var metrics = await figures.EvaluateAllAsync<string[]>("all => all.map(f => f.dataset.metric)");
        Assert.Equal(["battery", "temperatureC"], metrics);
        await Expect(page.Locator("figure[data-metric='battery'] canvas")).ToHaveAttributeAsync("data-drawn", "data");
        await Expect(page.Locator("figure[data-metric='battery'] p")).ToHaveTextAsync("battery: from 1 to 6, latest bucket mean 6.");
        await Expect(page.Locator("figure[data-metric='temperatureC'] p")).ToHaveTextAsync("temperatureC: no readings.");

        // Asked for the last 24 hours in 144 buckets, the same range for every chart.
        Assert.Equal(3, _seriesQueries.Count);
        var queries = _seriesQueries.Select(HttpUtility.ParseQueryString).ToList();
        Assert.Equal([null, "battery", "temperatureC"], queries.Select(q => q["metric"]).Order(StringComparer.Ordinal));
        Assert.All(queries, q => Assert.Equal("144", q["points"]));
        Assert.Single(queries.Select(q => (q["from"], q["to"])).Distinct());
        Assert.Equal(TimeSpan.FromHours(24), DateTimeOffset.Parse(queries[0]["to"]!, System.Globalization.CultureInfo.InvariantCulture) - DateTimeOffset.Parse(queries[0]["from"]!, System.Globalization.CultureInfo.InvariantCulture));

        // A heartbeat frame does not reload at once: only once 30 s have passed since the last read.
        await SendSensorAsync(page, 10);
        await page.Clock.RunForAsync(20_000);
        await SendSensorAsync(page, 11);
        await page.Clock.RunForAsync(5_000);
        await ReadsSettledAsync(page);
        Assert.Equal(3, _seriesQueries.Count);
        Assert.Equal(1, _latestReads);
        await page.Clock.RunForAsync(6_000);
        await Expect(timeline).ToHaveAttributeAsync("data-buckets", "6");
        await Sensors360.Testing.Eventually.TrueAsync(() => Task.FromResult(_seriesQueries.Count == 6), TimeSpan.FromSeconds(10), "the history is read again");
        Assert.Equal(2, _latestReads);

        await SaveScreenshotAsync(page, "sensor-history.png");

        // Closed, it reads nothing more, whatever frames come. The panel stops reading in the dialog's close event,
        // which the browser fires at a later frame, not in close() itself: the frame and the clock wait for it.
        await page.EvaluateAsync(
            "() => { window.detailClosed = new Promise(resolve => document.getElementById('sensor-detail').addEventListener('close', () => resolve(), { once: true })); }");
        await page.ClickAsync("#detail-close");
        await page.EvaluateAsync("() => window.detailClosed").WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await SendSensorAsync(page, 12);
        await page.Clock.RunForAsync(60_000);
        await ReadsSettledAsync(page);
        Assert.Equal(6, _seriesQueries.Count);
        Assert.Empty(_pageErrors);
    }

    [Fact]
    public async Task The_lifespan_panel_draws_the_curve_and_summary_and_shows_a_dash_when_the_route_is_missing()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await OpenAsync(browser);
        await page.EvaluateAsync(
            """
            async () => {
              const { LifespanPanel } = await import("/js/lifespan.js");
              document.getElementById("dashboard-view").hidden = false;
              window.lifespan = new LifespanPanel({
                canvas: document.getElementById("lifespan-curve"), summary: document.getElementById("lifespan-summary"), onUnauthorized: () => {},
              });
              window.lifespan.refresh();
            }
            """);

        // 450123 s = 5 d 05 h; 360000 s = 4 d 04 h; 540000 s = 6 d 06 h; 401000 s = 4 d 15 h (format.js: two largest units).
        var summary = page.Locator("#lifespan-summary");
        await Expect(summary).ToHaveTextAsync(
            "Mean lifespan 5 d 05 h (95%: 4 d 04 h–6 d 06 h), median 4 d 15 h, from 25 failures among 40 sensors; 15 still alive or decommissioned");
        var curve = page.Locator("#lifespan-curve");
        await Expect(curve).ToHaveAttributeAsync("data-drawn", "data");
        await Expect(curve).ToHaveAttributeAsync("data-steps", "3");

        // A step line: at 3 days (x axis to 5 days) the line is at 60%, the level since day 2, and not yet at 30%.
        Assert.True(await LineNearAsync(page, days: 3, survival: 0.6, ofDays: 5), "the curve holds 60% at day 3");
        Assert.False(await LineNearAsync(page, days: 3, survival: 0.3, ofDays: 5), "the curve drops to 30% only at day 5");
        Assert.True(await LineNearAsync(page, days: 0.5, survival: 1, ofDays: 5), "every sensor alive before day 1");

        await SaveScreenshotAsync(page, "lifespan.png", "#lifespan-curve");

        // Snapshots ask for it often; it is read at most once a minute.
        await page.Clock.RunForAsync(30_000);
        await page.EvaluateAsync("() => lifespan.refreshIfDue()");
        await ReadsSettledAsync(page);
        Assert.Equal(1, _lifespanReads);

        // Not on this server (404): a dash, quietly.
        _lifespanStatus = 404;
        await page.Clock.RunForAsync(31_000);
        await page.EvaluateAsync("() => lifespan.refreshIfDue()");
        await Expect(summary).ToHaveTextAsync("—");
        Assert.Equal(2, _lifespanReads);
        await Expect(curve).ToHaveAttributeAsync("data-steps", "0");
        Assert.Empty(_pageErrors);
    }

    /// <summary>
    /// Before asserting that the page read nothing: a read the page started earlier reaches the route before this one
    /// is answered, so a wrong read would be counted by now. That holds because the route's handler counts a read
    /// before its first await.
    /// </summary>
    private static async Task ReadsSettledAsync(IPage page) => await page.EvaluateAsync("() => fetch('/api/sentinel')");

    /// <summary>For people reviewing the page: what the charts look like, next to the dashboard test's screenshots.</summary>
    private static async Task SaveScreenshotAsync(IPage page, string name, string? around = null)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, name);
        if (around is null)
        {
            await page.ScreenshotAsync(new() { Path = path });
        }
        else
        {
            await page.Locator(around).Locator("xpath=../..").ScreenshotAsync(new() { Path = path });
        }
    }

    private async Task<IPage> OpenAsync(Browser browser)
    {
        var page = await browser.NewPageAsync();
        page.PageError += (_, error) => _pageErrors.Enqueue(error);
        // The fixed time is where the page's clock starts; it runs on from there, and RunFor moves it ahead.
        await page.Clock.InstallAsync(new() { TimeString = "2026-11-27T13:00:00Z" });
        await Wwwroot.ServePartsAsync(page);
        await page.RouteAsync($"{Wwwroot.Origin}/api/**", async route =>
        {
            var url = new Uri(route.Request.Url);
            object? body = url.AbsolutePath switch
            {
                $"/api/sensors/{SensorId}" => Sensor(9),
                $"/api/sensors/{SensorId}/heartbeats" => Latest(),
                $"/api/sensors/{SensorId}/series" => SeriesAnswer(url.Query),
                "/api/analytics/lifespan" => LifespanAnswer(),
                _ => null,
            };
            var status = url.AbsolutePath == "/api/analytics/lifespan" ? _lifespanStatus : body is null ? 404 : 200;
            await route.FulfillAsync(new()
            {
                Status = status,
                ContentType = status == 200 ? "application/json" : "application/problem+json",
                Body = status == 200 ? JsonSerializer.Serialize(body) : """{"status":404,"title":"Not found"}""",
            });
        });
        await page.GotoAsync($"{Wwwroot.Origin}/index.html");
        return page;
    }

    private object SeriesAnswer(string query)
    {
        _seriesQueries.Enqueue(query);
        return HttpUtility.ParseQueryString(query)["metric"] switch
        {
            null => Beats,
            "battery" => Battery,
            _ => Temperature,
        };
    }

    private object Latest()
    {
        Interlocked.Increment(ref _latestReads);
        return new { items = new[] { new { at = "2026-11-27T12:59:58Z", metrics = new Dictionary<string, double> { ["temperatureC"] = 21.5, ["battery"] = 6 } } }, next = "x" };
    }

    private object LifespanAnswer()
    {
        Interlocked.Increment(ref _lifespanReads);
        return new
        {
            sensors = 40,
            failed = 25,
            censored = 15,
            meanSeconds = 450123.0,
            meanCi95 = new[] { 360000.0, 540000.0 },
            medianSeconds = 401000.0,
            weibull = new { shape = 1.4, scaleSeconds = 480000.0 },
            naiveMeanSeconds = 300000.0,
            curve = new[]
            {
                new { ageSeconds = 86400.0, survival = 0.9, atRisk = 40 },
                new { ageSeconds = 172800.0, survival = 0.6, atRisk = 30 },
                new { ageSeconds = 432000.0, survival = 0.3, atRisk = 10 },
            },
        };
    }

    private static object Series(string? metric, params (int Count, double? Min, double? Max, double? Mean)[] buckets) => new
    {
        metric,
        from = "2026-11-27T12:00:00+00:00",
        to = "2026-11-27T13:00:00+00:00",
        bucketSeconds = 600,
        points = buckets.Select((b, i) => new { at = $"2026-11-27T12:{i}0:00+00:00", count = b.Count, min = b.Min, max = b.Max, mean = b.Mean }).ToArray(),
    };

    private static Dictionary<string, object?> Sensor(int heartbeats) => new()
    {
        ["id"] = SensorId,
        ["tags"] = Array.Empty<string>(),
        ["status"] = "online",
        ["createdAt"] = "2026-11-27T10:00:00Z",
        ["firstHeartbeatAt"] = "2026-11-27T10:00:05Z",
        ["lastHeartbeatAt"] = "2026-11-27T12:59:58Z",
        ["heartbeatCount"] = heartbeats,
        ["meanIntervalSeconds"] = 5.0,
        ["silenceThresholdSeconds"] = 60,
    };

    private static async Task SendSensorAsync(IPage page, int heartbeats) =>
        await page.EvaluateAsync(
            "(json) => feed.dispatchEvent(new CustomEvent('sensor', { detail: { type: 'sensor', sensor: JSON.parse(json) } }))",
            JsonSerializer.Serialize(Sensor(heartbeats)));

    // Pixels in the --rate colour (bars and lines) found by reading the canvas back, at places given in plot coordinates.
    private const string RatePixels =
        """
        const canvas = document.querySelector(selector);
        const [left, top, width, height] = canvas.dataset.plot.split(" ").map(Number);
        const ratio = canvas.width / parseFloat(canvas.style.width);
        const hex = getComputedStyle(canvas).getPropertyValue("--rate").trim();
        const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
        const g = canvas.getContext("2d");
        const rateAt = (x, y0, y1) => {
          const data = g.getImageData(Math.round(x * ratio), Math.round(y0 * ratio), 1, Math.max(1, Math.round((y1 - y0) * ratio))).data;
          for (let k = 0; k < data.length; k += 4) {
            if (data[k + 3] > 200 && rgb.every((c, j) => Math.abs(data[k + j] - c) < 24)) return true;
          }
          return false;
        };
        """;

    private static Task<bool[]> BarsPerBucketAsync(IPage page, string selector) =>
        page.EvaluateAsync<bool[]>(
            $$"""
            (selector) => {
              {{RatePixels}}
              const n = Number(canvas.dataset.buckets);
              return [...Array(n).keys()].map((i) => rateAt(left + ((i + 0.5) * width) / n, top, top + height));
            }
            """, selector);

    private static Task<bool> LineNearAsync(IPage page, double days, double survival, double ofDays) =>
        page.EvaluateAsync<bool>(
            $$"""
            ([selector, days, survival, ofDays]) => {
              {{RatePixels}}
              const y = top + height - survival * height;
              return rateAt(left + (days / ofDays) * width, y - 2, y + 3);
            }
            """, new object[] { "#lifespan-curve", days, survival, ofDays });
}
