using System.Text.Json;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Sensors360.Dashboard.Tests;

/// <summary>
/// The sensor dialog's bar of days (one cell per UTC day, coloured by uptime, the percent in its tooltip) and its
/// pause controls, in the browser with the API answered from literals here.
/// </summary>
public sealed class UptimeBarTests
{
    private const string SensorId = "bar-3";

    private readonly List<(string Path, string? Body)> _commands = [];
    private readonly List<string> _uptimeQueries = [];
    private readonly List<string> _pageErrors = [];
    private string _status = "paused";

    [Fact]
    public async Task The_dialog_shows_one_cell_per_day_coloured_by_uptime_and_an_operator_can_resume_and_pause()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await OpenDialogAsync(browser, canOperate: true);

        // Four days: whole, a bad one, a slightly bad one, and one before the sensor existed (not monitored).
        var cells = page.Locator("#detail-uptime li");
        await Expect(cells).ToHaveCountAsync(4);
        var classes = await cells.EvaluateAllAsync<string[]>("all => all.map(c => c.className)");
        Assert.Equal(["uptime-day uptime-none", "uptime-day uptime-full", "uptime-day uptime-down", "uptime-day uptime-minor"], classes);
        await Expect(cells.Nth(0)).ToHaveAttributeAsync("title", "2026-11-24: not monitored");
        await Expect(cells.Nth(1)).ToHaveAttributeAsync("title", "2026-11-25: 100% up");
        await Expect(cells.Nth(2)).ToHaveAttributeAsync("title", "2026-11-26: 75.5% up");
        await Expect(cells.Nth(3)).ToHaveAttributeAsync("title", "2026-11-27: 99.25% up");
        await Expect(page.Locator("#detail-uptime-percent")).ToHaveTextAsync("(91.58% up)");
        Assert.Equal(["?days=30"], _uptimeQueries);

        // Paused: the badge says so, and an operator may resume it.
        await Expect(page.Locator("#detail-fields .status-paused")).ToHaveTextAsync("paused");
        await Expect(page.Locator("#detail-pause")).ToBeVisibleAsync();
        await Expect(page.Locator("#detail-resume-button")).ToBeVisibleAsync();
        await page.ClickAsync("#detail-resume-button");
        await Expect(page.Locator("#detail-fields .status-online")).ToHaveTextAsync("online");
        await Expect(page.Locator("#detail-resume-button")).ToBeHiddenAsync();

        // Paused for 4 hours from the page's clock.
        await page.SelectOptionAsync("#detail-pause-for", "14400");
        await page.ClickAsync("#detail-pause-button");
        await Expect(page.Locator("#detail-fields .status-paused")).ToHaveTextAsync("paused");
        Assert.Equal("/api/sensors/bar-3/resume", _commands[0].Path);
        Assert.Equal("/api/sensors/bar-3/pause", _commands[1].Path);
        var until = JsonDocument.Parse(_commands[1].Body!).RootElement.GetProperty("until").GetDateTimeOffset();
        Assert.InRange(until, DateTimeOffset.Parse("2026-11-27T17:00:00Z", System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.Parse("2026-11-27T17:01:00Z", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Empty(_pageErrors);
    }

    [Fact]
    public async Task A_viewer_sees_the_bar_but_no_pause_controls()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await OpenDialogAsync(browser, canOperate: false);

        await Expect(page.Locator("#detail-uptime li")).ToHaveCountAsync(4);
        await Expect(page.Locator("#detail-fields .status-paused")).ToHaveTextAsync("paused");
        await Expect(page.Locator("#detail-pause")).ToBeHiddenAsync();
        Assert.Empty(_pageErrors);
    }

    private async Task<IPage> OpenDialogAsync(Browser browser, bool canOperate)
    {
        var page = await browser.NewPageAsync();
        page.PageError += (_, error) => _pageErrors.Add(error);
        await page.Clock.InstallAsync(new() { TimeString = "2026-11-27T13:00:00Z" });
        await Wwwroot.ServePartsAsync(page);
        await page.RouteAsync($"{Wwwroot.Origin}/api/**", AnswerAsync);
        await page.GotoAsync($"{Wwwroot.Origin}/index.html");
        await Wwwroot.OpenSensorDetailAsync(page, SensorId, canOperate);
        return page;
    }

    private async Task AnswerAsync(IRoute route)
    {
        var url = new Uri(route.Request.Url);
        object? body = null;
        switch (url.AbsolutePath)
        {
            case $"/api/sensors/{SensorId}":
                body = Sensor();
                break;
            case $"/api/sensors/{SensorId}/uptime":
                _uptimeQueries.Add(url.Query);
                body = Uptime();
                break;
            case $"/api/sensors/{SensorId}/heartbeats":
                body = new { items = Array.Empty<object>(), next = (string?)null };
                break;
            case $"/api/sensors/{SensorId}/resume":
                _commands.Add((url.AbsolutePath, route.Request.PostData));
                _status = "online";
                body = Sensor();
                break;
            case $"/api/sensors/{SensorId}/pause":
                _commands.Add((url.AbsolutePath, route.Request.PostData));
                _status = "paused";
                body = Sensor();
                break;
        }

        await route.FulfillAsync(new()
        {
            Status = body is null ? 404 : 200,
            ContentType = body is null ? "application/problem+json" : "application/json",
            Body = body is null ? """{"status":404,"title":"Not found"}""" : JsonSerializer.Serialize(body),
        });
    }

    private Dictionary<string, object?> Sensor() => new()
    {
        ["id"] = SensorId,
        ["tags"] = new[] { "hall" },
        ["status"] = _status,
        ["createdAt"] = "2026-11-25T00:00:00Z",
        ["firstHeartbeatAt"] = "2026-11-25T00:00:05Z",
        ["lastHeartbeatAt"] = "2026-11-27T12:59:58Z",
        ["heartbeatCount"] = 100,
        ["meanIntervalSeconds"] = 5.0,
        ["silenceThresholdSeconds"] = 60,
        ["retiredReason"] = null,
        ["pausedUntil"] = _status == "paused" ? "2026-11-27T17:00:00Z" : null,
    };

    private static object Uptime() => new
    {
        sensorId = SensorId,
        days = 30,
        uptimePercent = 91.58,
        buckets = new object[]
        {
            new { day = "2026-11-24", uptimePercent = (double?)null, downSeconds = 0, monitoredSeconds = 0 },
            new { day = "2026-11-25", uptimePercent = (double?)100, downSeconds = 0, monitoredSeconds = 86400 },
            new { day = "2026-11-26", uptimePercent = (double?)75.5, downSeconds = 21168, monitoredSeconds = 86400 },
            new { day = "2026-11-27", uptimePercent = (double?)99.25, downSeconds = 351, monitoredSeconds = 46800 },
        },
        downtime = Array.Empty<object>(),
    };
}
