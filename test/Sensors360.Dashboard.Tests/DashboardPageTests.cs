using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Sensors360.Testing;
using static Microsoft.Playwright.Assertions;

namespace Sensors360.Dashboard.Tests;

/// <summary>
/// The dashboard page in Chromium against the real server: log in, KPI tiles equal to <c>GET /api/fleet</c>, a
/// sensor's live heartbeats, the sensor going silent and its alert appearing live, acknowledging it, reconnecting
/// after the server closed the socket (it is stopped and a new server takes over the same address and database),
/// and logging out.
/// </summary>
public sealed class DashboardPageTests(ThrowawayPostgres postgres) : IAsyncLifetime
{
    private const string SensorId = "e2e-boiler-7";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan SensorThreshold = TimeSpan.FromSeconds(15);

    private readonly Dictionary<string, string?> _environment = new()
    {
        ["Sensors360__Monitoring__SilenceThreshold"] = "00:00:03",
        ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
    };

    private readonly List<string> _pageErrors = [];
    private string _connectionString = null!;
    private ServerProcess _server = null!;
    private ServerProcess? _successor;
    private Browser _browser = null!;
    private HttpClient _operator = null!;

    private static string Screenshots => Path.Combine(AppContext.BaseDirectory, "screenshots");

    public async ValueTask InitializeAsync()
    {
        _connectionString = await postgres.CreateDatabaseAsync(nameof(DashboardPageTests));
        _server = ServerProcess.Start(_connectionString, "dashboard-page", _environment);
        var browser = Browser.LaunchAsync();
        await _server.WaitUntilReadyAsync();
        _browser = await browser;
        _operator = await _server.LoginAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _operator?.Dispose();
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        if (_successor is not null)
        {
            await _successor.DisposeAsync();
        }

        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Operator_watches_a_sensor_fall_silent_acknowledges_it_and_the_page_reconnects_after_a_restart()
    {
        var page = await _browser.NewPageAsync(1280, 800);
        page.PageError += (_, error) => _pageErrors.Add(error);
        try
        {
            await page.GotoAsync(_server.BaseAddress.ToString());

            // Log in through the form.
            await Expect(page.Locator("#login-form")).ToBeVisibleAsync();
            await page.FillAsync("#login-username", "admin");
            await page.FillAsync("#login-password", _server.AdminPassword);
            await page.ClickAsync("#login-submit");
            await Expect(page.Locator("#session-user")).ToHaveTextAsync("admin");
            await ExpectConnectionAsync(page, "live");
            await ExpectTilesMatchFleetAsync(page);

            // A sensor appears, reports twice while its details are open (live through the feed), then stops.
            // Its own threshold, longer than the page's steps before its first heartbeat take on a loaded machine: past
            // it, a sensor never heard from turns silent (never reported) rather than staying pending.
            using var provisioned = await _operator.PostAsJsonAsync(
                "/api/sensors", new { id = SensorId, tags = new[] { "plant-a" }, silenceThresholdSeconds = (int)SensorThreshold.TotalSeconds });
            Assert.Equal(HttpStatusCode.Created, provisioned.StatusCode);
            var token = (await provisioned.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
            var row = page.Locator($"#sensors tbody tr[data-sensor-id='{SensorId}']");
            await Expect(row).ToHaveAttributeAsync("data-status", "pending", new() { Timeout = Ms(Patience) });

            await page.FillAsync("#sensor-search", "plant-a");
            await Expect(page.Locator("#sensors tbody tr[data-sensor-id]")).ToHaveCountAsync(1);
            await row.Locator("button.link").ClickAsync();
            await Expect(page.Locator("#sensor-detail")).ToBeVisibleAsync();
            await Expect(page.Locator("#detail-fields")).ToContainTextAsync("pending");
            await SensorHeartbeats.StoredAsync(_server.Http, SensorId, token);
            await Expect(page.Locator("#detail-heartbeats li[data-heartbeat-count='1']")).ToBeVisibleAsync(new() { Timeout = Ms(Patience) });
            await SensorHeartbeats.StoredAsync(_server.Http, SensorId, token);
            await Expect(page.Locator("#detail-heartbeats li[data-heartbeat-count='2']")).ToBeVisibleAsync(new() { Timeout = Ms(Patience) });
            await page.ClickAsync("#detail-close");
            await Expect(page.Locator("#sensor-detail")).ToBeHiddenAsync();

            // Silence: the row turns silent and the alert appears, without a reload.
            await Expect(row).ToHaveAttributeAsync("data-status", "silent", new() { Timeout = Ms(SensorThreshold + Patience) });
            var alert = page.Locator($"#alerts li[data-sensor-id='{SensorId}']");
            await Expect(alert).ToBeVisibleAsync(new() { Timeout = Ms(Patience) });

            // Acknowledge it on the page; the server records who did.
            await alert.GetByRole(AriaRole.Button, new() { Name = $"Acknowledge the alert for sensor {SensorId}" }).ClickAsync();
            await Expect(alert.Locator(".acknowledged")).ToHaveAttributeAsync("data-acknowledged-by", "admin");
            var open = await _operator.GetFromJsonAsync<JsonElement>("/api/alerts?state=open");
            var acknowledged = Assert.Single(open.GetProperty("items").EnumerateArray(), item => item.GetProperty("sensorId").GetString() == SensorId);
            Assert.Equal("admin", acknowledged.GetProperty("acknowledgedBy").GetString());

            // With a silent sensor, an interval and a lifespan, the tiles still equal GET /api/fleet.
            // The fleet aggregate hears of the silence on its own path, moments after the alert: wait for it.
            await page.FillAsync("#sensor-search", "");
            await Expect(Tile(page, "silentPercent")).ToHaveTextAsync("100.0 %", new() { Timeout = Ms(Patience) });
            await ExpectTilesMatchFleetAsync(page);
            await SaveScreenshotsAsync(page);

            // The server goes away (closing the socket with 1001); a new one takes over address and database.
            await _server.StopAsync();
            await ExpectConnectionAsync(page, "reconnecting");
            await Expect(page.Locator("#connection")).ToHaveAttributeAsync("data-last-close", "1001");
            _successor = ServerProcess.Start(_connectionString, "dashboard-page",
                new Dictionary<string, string?>(_environment) { ["ASPNETCORE_URLS"] = _server.BaseAddress.ToString().TrimEnd('/') });
            await ExpectConnectionAsync(page, "live", TimeSpan.FromSeconds(60));
            await Expect(row).ToHaveAttributeAsync("data-status", "silent");
            await ExpectTilesMatchFleetAsync(page);

            // Logging out ends the feed and shows the form again.
            await page.ClickAsync("#logout");
            await Expect(page.Locator("#login-form")).ToBeVisibleAsync();
            await Expect(page.Locator("#connection")).ToBeHiddenAsync();
            await Expect(page.Locator("#connection")).ToHaveAttributeAsync("data-state", "offline");
            Assert.Empty(_pageErrors);
        }
        catch
        {
            Directory.CreateDirectory(Screenshots);
            await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "failure.png"), FullPage = true });
            throw;
        }
    }

    private static ILocator Tile(IPage page, string kpi) => page.Locator($"[data-kpi='{kpi}'] .kpi-value");

    private static float Ms(TimeSpan timeout) => (float)timeout.TotalMilliseconds;

    private static Task ExpectConnectionAsync(IPage page, string state, TimeSpan? timeout = null) =>
        Expect(page.Locator("#connection")).ToHaveAttributeAsync("data-state", state, new() { Timeout = Ms(timeout ?? Patience) });

    /// <summary>Polls until every tile shows what the page's rounding makes of GET /api/fleet at that moment.</summary>
    private async Task ExpectTilesMatchFleetAsync(IPage page)
    {
        await Eventually.MatchesAsync(
            async () =>
            {
                var expected = KpiText.For(await _operator.GetFromJsonAsync<JsonElement>("/api/fleet"));
                var shown = new List<string>();
                foreach (var kpi in KpiText.Kpis)
                {
                    shown.Add($"{kpi}={await Tile(page, kpi).TextContentAsync()}");
                }

                return (Expected: string.Join("; ", KpiText.Kpis.Select(kpi => $"{kpi}={expected[kpi]}")), Shown: string.Join("; ", shown));
            },
            tiles => tiles.Expected == tiles.Shown,
            Patience,
            "the KPI tiles show GET /api/fleet");
    }

    /// <summary>The dashboard at 1280×800 and at a phone's 390×844, for a person to look at.</summary>
    private static async Task SaveScreenshotsAsync(IPage page)
    {
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "dashboard.png") });
        await page.SetViewportSizeAsync(390, 844);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "dashboard-phone.png") });
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "dashboard-phone-full.png"), FullPage = true });
        await page.SetViewportSizeAsync(1280, 800);
    }
}
