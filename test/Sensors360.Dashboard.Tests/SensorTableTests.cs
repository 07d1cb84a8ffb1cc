using System.Text.Json;
using Microsoft.Playwright;
using Sensors360.Testing;
using static Microsoft.Playwright.Assertions;

namespace Sensors360.Dashboard.Tests;

/// <summary>
/// The sensor table (wwwroot/js/sensors.js) kept current from frames, in the browser without a server: the page's
/// markup with its own script left out, <c>/api/sensors</c> answered from a list held here, and a fake feed that
/// records subscriptions and lets the test send <c>sensor</c> frames.
/// </summary>
public sealed class SensorTableTests
{
    private const int Fleet = 120;

    // s000 … s119, all online; the default order (status, then id) is by id.
    private readonly Dictionary<string, Dictionary<string, object?>> _sensors = Enumerable.Range(0, Fleet)
        .Select(i => Sensor($"s{i:D3}", "online", 10))
        .ToDictionary(sensor => (string)sensor["id"]!);

    private int _listReads;
    private int _singleReads;

    [Fact]
    public async Task Rows_follow_sensor_frames_and_the_top_rows_are_subscribed()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await OpenTableAsync(browser);
        var rows = page.Locator("#sensors tbody tr[data-sensor-id]");
        await Expect(rows).ToHaveCountAsync(Fleet);
        await Expect(page.Locator("#sensors-info")).ToHaveTextAsync($"{Fleet} of {Fleet} sensors shown");

        // The first 90 shown rows are subscribed, in one message.
        Assert.Equal(Ids(0, 90), await Subscribed(page));
        Assert.Equal(1, await page.EvaluateAsync<int>("() => feed.messages.length"));

        // A heartbeat of s005 changes its row in place: the same element (and focused button), the new count.
        await page.Locator("#sensors tbody tr[data-sensor-id='s005'] button").FocusAsync();
        await page.EvaluateAsync("() => { window.row5 = document.querySelector(\"tr[data-sensor-id='s005']\"); window.row6 = document.querySelector(\"tr[data-sensor-id='s006']\"); }");
        await SendAsync(page, Sensor("s005", "online", 11));
        var row5 = page.Locator("#sensors tbody tr[data-sensor-id='s005']");
        await Expect(row5.Locator("td").Nth(3)).ToHaveTextAsync("11");
        Assert.Equal("same, same, focused", await page.EvaluateAsync<string>(
            """
            () => [
              document.querySelector("tr[data-sensor-id='s005']") === row5 ? "same" : "replaced",
              document.querySelector("tr[data-sensor-id='s006']") === row6 ? "same" : "replaced",
              document.activeElement === row5.querySelector("button") ? "focused" : `focus on ${document.activeElement?.outerHTML}`,
            ].join(", ")
            """));

        // A frame older than what is shown changes nothing.
        await SendAsync(page, Sensor("s005", "online", 9));
        await Expect(row5.Locator("td").Nth(3)).ToHaveTextAsync("11");

        // s100 (not subscribed, further down) falls silent: silent sorts first, so it moves to the top, keeps focus
        // behaviour, and becomes subscribed while s089 drops out of the first 90.
        _sensors["s100"] = Sensor("s100", "silent", 10);
        await page.EvaluateAsync("() => table.reread('s100')");
        await Expect(rows.First).ToHaveAttributeAsync("data-sensor-id", "s100");
        await Expect(rows.First).ToHaveAttributeAsync("data-status", "silent");
        await Expect(rows).ToHaveCountAsync(Fleet);
        await Expect(page.Locator("#sensors-info")).ToHaveTextAsync($"{Fleet} of {Fleet} sensors shown");
        Assert.Equal(Ids(0, 89).Append("s100").Order(), await Subscribed(page));
        Assert.True(await page.EvaluateAsync<bool>("() => document.activeElement?.textContent === 's005'"));
        var last = await page.EvaluateAsync<JsonElement>("() => feed.messages.slice(-2)");
        Assert.Equal("""[["unsubscribe",["s089"]],["subscribe",["s100"]]]""", last.GetRawText());

        // Filtering to silent sensors: one row shown, one sensor subscribed, the others let go.
        await page.Locator("#sensor-status").SelectOptionAsync("silent");
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(page.Locator("#sensors-info")).ToHaveTextAsync($"1 of {Fleet} sensors shown");
        Assert.Equal(["s100"], await Subscribed(page));

        // A frame for a sensor outside the filter that now matches it brings its row in.
        await SendAsync(page, Sensor("s003", "silent", 11));
        await Expect(rows).ToHaveCountAsync(2);
        Assert.Equal(["s003", "s100"], await Subscribed(page));

        // None of this read the whole list again.
        Assert.Equal(1, _listReads);
    }

    [Fact]
    public async Task Alert_frames_set_the_status_they_imply_and_read_only_shown_rows_that_need_it()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await OpenTableAsync(browser);
        var rows = page.Locator("#sensors tbody tr[data-sensor-id]");
        await Expect(rows).ToHaveCountAsync(Fleet);

        // s110 is shown but not watched: a raised alert makes it silent at once, without a read.
        await AlertAsync(page, "s110", resolved: false);
        await Expect(rows.First).ToHaveAttributeAsync("data-sensor-id", "s110");
        await Expect(rows.First).ToHaveAttributeAsync("data-status", "silent");
        Assert.Equal(0, _singleReads);

        // Now at the top, s110 is watched: its resolution waits for its own sensor frame.
        Assert.Contains("s110", await Subscribed(page));
        await AlertAsync(page, "s110", resolved: true);

        // s115 is shown and not watched; it was resolved elsewhere: one read tells its status.
        _sensors["s115"] = Sensor("s115", "retired", 10);
        await AlertAsync(page, "s115", resolved: true);
        await Expect(page.Locator("#sensors tbody tr[data-sensor-id='s115']")).ToHaveAttributeAsync("data-status", "retired");
        Assert.Equal(1, _singleReads);

        // s117 is resolved while filtered out: read only once its row is shown again.
        await page.Locator("#sensor-status").SelectOptionAsync("silent");
        await Expect(rows).ToHaveCountAsync(1);
        _sensors["s117"] = Sensor("s117", "retired", 10);
        await AlertAsync(page, "s117", resolved: true);
        Assert.Equal(1, _singleReads);
        await page.Locator("#sensor-status").SelectOptionAsync("");
        await Expect(page.Locator("#sensors tbody tr[data-sensor-id='s117']")).ToHaveAttributeAsync("data-status", "retired");
        Assert.Equal(2, _singleReads);

        // With more rows shown than watched, the list is read again only once the refresh gap has passed.
        Assert.Equal(1, _listReads);
        await page.EvaluateAsync("() => table.keepShownCurrent()");
        Assert.Equal(1, _listReads);
        await page.EvaluateAsync("() => { const real = Date.now.bind(Date); Date.now = () => real() + 16_000; table.keepShownCurrent(); }");
        await Eventually.TrueAsync(() => Task.FromResult(_listReads == 2), TimeSpan.FromSeconds(10), "the list is read again");
    }

    private async Task<IPage> OpenTableAsync(Browser browser)
    {
        var page = await browser.NewPageAsync();
        await ServeAsync(page);
        await page.GotoAsync($"{Wwwroot.Origin}/index.html");
        await page.EvaluateAsync(
            """
            async () => {
              const { SensorTable } = await import("/js/sensors.js");
              // A feed that only records what the table asks of it.
              const feed = new EventTarget();
              feed.subscribed = new Set();
              feed.messages = [];
              feed.subscribe = (...ids) => { ids.forEach((id) => feed.subscribed.add(id)); if (ids.length) feed.messages.push(["subscribe", ids]); };
              feed.unsubscribe = (...ids) => { ids.forEach((id) => feed.subscribed.delete(id)); if (ids.length) feed.messages.push(["unsubscribe", ids]); };
              const byId = (id) => document.getElementById(id);
              document.getElementById("dashboard-view").hidden = false;
              window.feed = feed;
              window.table = new SensorTable({
                table: byId("sensors"), search: byId("sensor-search"), status: byId("sensor-status"), info: byId("sensors-info"),
                feed, onOpen: () => {}, onUnauthorized: () => {},
              });
              window.table.refresh();
            }
            """);
        return page;
    }

    private static async Task AlertAsync(IPage page, string sensorId, bool resolved) =>
        await page.EvaluateAsync(
            "([id, resolved]) => table.applyAlert({ id: 1, sensorId: id, kind: 'silent', resolvedAt: resolved ? '2026-11-27T18:30:00Z' : null })",
            new object[] { sensorId, resolved });

    private static Dictionary<string, object?> Sensor(string id, string status, int heartbeats) => new()
    {
        ["id"] = id,
        ["tags"] = new[] { "plant-a" },
        ["status"] = status,
        ["createdAt"] = "2026-11-27T18:00:00Z",
        ["firstHeartbeatAt"] = "2026-11-27T18:00:05Z",
        ["lastHeartbeatAt"] = $"2026-11-27T18:{heartbeats:D2}:00Z",
        ["heartbeatCount"] = heartbeats,
        ["meanIntervalSeconds"] = 5.0,
        ["silenceThresholdSeconds"] = 60,
    };

    private static string[] Ids(int from, int count) => Enumerable.Range(from, count).Select(i => $"s{i:D3}").ToArray();

    private static async Task<string[]> Subscribed(IPage page) =>
        (await page.EvaluateAsync<string[]>("() => [...feed.subscribed]")).Order(StringComparer.Ordinal).ToArray();

    private static async Task SendAsync(IPage page, Dictionary<string, object?> sensor) =>
        await page.EvaluateAsync(
            "(json) => { feed.dispatchEvent(new CustomEvent('sensor', { detail: { type: 'sensor', sensor: JSON.parse(json) } })); }",
            JsonSerializer.Serialize(sensor));

    /// <summary>The page's files, without its own script (the test builds the table), and the two sensor routes.</summary>
    private async Task ServeAsync(IPage page)
    {
        await Wwwroot.ServePartsAsync(page);
        await page.RouteAsync($"{Wwwroot.Origin}/api/sensors**", async route =>
        {
            var path = new Uri(route.Request.Url).AbsolutePath;
            object body;
            if (path == "/api/sensors")
            {
                _listReads++;
                body = new { items = _sensors.Values.ToArray(), nextCursor = (string?)null };
            }
            else
            {
                _singleReads++;
                body = _sensors[Uri.UnescapeDataString(path["/api/sensors/".Length..])];
            }

            await route.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = JsonSerializer.Serialize(body) });
        });
    }
}
