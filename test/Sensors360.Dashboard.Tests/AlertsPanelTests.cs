using static Microsoft.Playwright.Assertions;

namespace Sensors360.Dashboard.Tests;

/// <summary>
/// The open alerts (wwwroot/js/alerts.js) take who acknowledged an alert from the feed alone: from an alerts frame's
/// alerts and from alert frames. In the browser without a server, the page's markup without its own script.
/// </summary>
public sealed class AlertsPanelTests
{
    [Fact]
    public async Task Acknowledgements_come_from_alert_lists_and_alert_frames()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync();
        var requests = new List<string>();
        page.Request += (_, request) => requests.Add(new Uri(request.Url).AbsolutePath);
        await Wwwroot.ServePartsAsync(page);
        await page.GotoAsync($"{Wwwroot.Origin}/index.html");
        await page.EvaluateAsync(
            """
            async () => {
              const { AlertsPanel } = await import("/js/alerts.js");
              const byId = (id) => document.getElementById(id);
              byId("dashboard-view").hidden = false;
              window.makeAlert = (id, sensorId, acknowledgedBy = null, resolvedAt = null) => ({
                id, sensorId, kind: "silent", silentSince: "2026-11-27T19:40:00Z", raisedAt: "2026-11-27T19:40:01Z", resolvedAt,
                acknowledgedAt: acknowledgedBy ? "2026-11-27T19:41:00Z" : null, acknowledgedBy,
              });
              window.panel = new AlertsPanel({ list: byId("alerts"), empty: byId("alerts-empty"), count: byId("alerts-count"), note: byId("alerts-note"), onUnauthorized: () => {} });
              panel.replace([makeAlert(2, "boiler-8", "bob"), makeAlert(1, "boiler-7")], 2);
            }
            """);
        var acknowledged = (string sensorId) => page.Locator($"#alerts li[data-sensor-id='{sensorId}'] .acknowledged");
        var button = (string sensorId) => page.Locator($"#alerts li[data-sensor-id='{sensorId}'] button");

        // From the alert list: bob acknowledged boiler-8; boiler-7 still offers the button.
        await Expect(acknowledged("boiler-8")).ToHaveAttributeAsync("data-acknowledged-by", "bob");
        await Expect(button("boiler-7")).ToHaveTextAsync("Acknowledge");

        // Someone acknowledges boiler-7 elsewhere: the alert frame says so.
        await page.EvaluateAsync("() => panel.apply(makeAlert(1, 'boiler-7', 'carol'))");
        await Expect(acknowledged("boiler-7")).ToHaveAttributeAsync("data-acknowledged-by", "carol");
        await Expect(acknowledged("boiler-7")).ToHaveTextAsync("Acknowledged by carol at 19:41:00");

        // A later alert list keeps both; a resolved frame removes the alert.
        await page.EvaluateAsync("() => panel.replace([makeAlert(2, 'boiler-8', 'bob'), makeAlert(1, 'boiler-7', 'carol')], 2)");
        await Expect(page.Locator("#alerts .acknowledged")).ToHaveCountAsync(2);
        await page.EvaluateAsync("() => panel.apply(makeAlert(2, 'boiler-8', 'bob', '2026-11-27T19:42:00Z'))");
        await Expect(page.Locator("#alerts li")).ToHaveCountAsync(1);

        // Frames and alert lists sent before the resolution may arrive after it: the alert stays gone.
        await page.EvaluateAsync("() => panel.apply(makeAlert(2, 'boiler-8', 'bob'))");
        await page.EvaluateAsync("() => panel.replace([makeAlert(2, 'boiler-8', 'bob'), makeAlert(1, 'boiler-7', 'carol')], 2)");
        await Expect(page.Locator("#alerts li")).ToHaveCountAsync(1);
        await Expect(page.Locator("#alerts li[data-sensor-id='boiler-8']")).ToHaveCountAsync(0);

        // None of it asked the server.
        Assert.DoesNotContain(requests, path => path.StartsWith("/api/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_never_reported_alert_says_so_and_a_silent_one_keeps_its_kind()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync();
        await Wwwroot.ServePartsAsync(page);
        await page.GotoAsync($"{Wwwroot.Origin}/index.html");
        await page.EvaluateAsync(
            """
            async () => {
              const { AlertsPanel } = await import("/js/alerts.js");
              const byId = (id) => document.getElementById(id);
              byId("dashboard-view").hidden = false;
              const alert = (id, sensorId, kind) => ({
                id, sensorId, kind, silentSince: "2026-11-27T19:40:00Z", raisedAt: "2026-11-27T19:40:01Z", resolvedAt: null,
                acknowledgedAt: null, acknowledgedBy: null,
              });
              const panel = new AlertsPanel({ list: byId("alerts"), empty: byId("alerts-empty"), count: byId("alerts-count"), note: byId("alerts-note"), onUnauthorized: () => {} });
              panel.replace([alert(2, "mute-1", "never-reported"), alert(1, "boiler-7", "silent")], 2);
            }
            """);

        var mute = page.Locator("#alerts li[data-sensor-id='mute-1']");
        await Expect(mute.Locator(".alert-kind")).ToHaveTextAsync("never reported");
        await Expect(mute.Locator(".alert-time")).ToContainTextAsync("no heartbeat since it was provisioned");
        var silent = page.Locator("#alerts li[data-sensor-id='boiler-7']");
        await Expect(silent.Locator(".alert-kind")).ToHaveTextAsync("silent");
        await Expect(silent.Locator(".alert-time")).Not.ToContainTextAsync("provisioned");
    }
}
