using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Sensors360.Testing;
using static Microsoft.Playwright.Assertions;

namespace Sensors360.Dashboard.Tests;

/// <summary>
/// Roles on the page, in Chromium against the real server: an admin adds an operator on the Operators screen,
/// changes their role, cannot demote the last admin, resets a password and disables the account; a viewer sees
/// neither the Operators screen nor Acknowledge buttons, and changes their own password.
/// </summary>
public sealed class OperatorsScreenTests(ThrowawayPostgres postgres) : IAsyncLifetime
{
    private const string SensorId = "ops-silent";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly List<string> _pageErrors = [];
    private ServerProcess _server = null!;
    private Browser _browser = null!;
    private HttpClient _admin = null!;

    private static string Screenshots => Path.Combine(AppContext.BaseDirectory, "screenshots");

    public async ValueTask InitializeAsync()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(OperatorsScreenTests));
        _server = ServerProcess.Start(database, "operators-screen", new Dictionary<string, string?>
        {
            ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
        });
        var browser = Browser.LaunchAsync();
        await _server.WaitUntilReadyAsync();
        _browser = await browser;
        _admin = await _server.LoginAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _admin?.Dispose();
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        await _server.DisposeAsync();
    }

    [Fact]
    public async Task An_admin_manages_operators_on_the_page_and_a_viewer_sees_no_operator_actions()
    {
        await OpenAlertAsync();
        var adminPage = await _browser.NewPageAsync(1280, 900);
        var viewerPage = await _browser.NewPageAsync(1280, 900);
        adminPage.PageError += (_, error) => _pageErrors.Add(error);
        viewerPage.PageError += (_, error) => _pageErrors.Add(error);
        try
        {
            await LoginAsync(adminPage, "admin", _server.AdminPassword);
            await Expect(adminPage.Locator("#session-role")).ToHaveTextAsync("(admin)");
            await Expect(AcknowledgeButton(adminPage)).ToBeVisibleAsync(new() { Timeout = 20_000 });

            // The Operators screen lists the bootstrap admin; a new viewer is added through its form.
            await adminPage.ClickAsync("#operators-open");
            await Expect(adminPage.Locator("#operators-dialog")).ToBeVisibleAsync();
            await Expect(adminPage.Locator("#operators tr[data-username='admin']")).ToBeVisibleAsync();
            await adminPage.FillAsync("#operator-new-username", "ui-viewer");
            await adminPage.FillAsync("#operator-new-password", "short");
            await adminPage.ClickAsync("#operator-create-submit");
            await Expect(adminPage.Locator("#operators-error")).ToContainTextAsync("12 characters");
            await adminPage.FillAsync("#operator-new-password", "first-viewer-password");
            await adminPage.SelectOptionAsync("#operator-new-role", "viewer");
            await adminPage.ClickAsync("#operator-create-submit");
            await Expect(adminPage.Locator("#operators tr[data-username='ui-viewer']")).ToBeVisibleAsync();
            await Expect(adminPage.Locator("#operators-status")).ToHaveTextAsync("ui-viewer was added as viewer.");
            Assert.Equal(("viewer", false), await OperatorAsync("ui-viewer"));

            // Role changes go to the server at once.
            await adminPage.SelectOptionAsync("select[data-role-of='ui-viewer']", "operator");
            await Expect(adminPage.Locator("#operators-status")).ToHaveTextAsync("ui-viewer is now operator.");
            Assert.Equal(("operator", false), await OperatorAsync("ui-viewer"));
            await adminPage.SelectOptionAsync("select[data-role-of='ui-viewer']", "viewer");
            await Expect(adminPage.Locator("#operators-status")).ToHaveTextAsync("ui-viewer is now viewer.");
            Assert.Equal(("viewer", false), await OperatorAsync("ui-viewer"));

            // The last admin stays: the refusal is shown and the list shows the role as it is.
            await adminPage.SelectOptionAsync("select[data-role-of='admin']", "viewer");
            await Expect(adminPage.Locator("#operators-error")).ToContainTextAsync("last enabled admin");
            await Expect(adminPage.Locator("select[data-role-of='admin']")).ToHaveValueAsync("admin");

            await adminPage.ClickAsync("button[data-reset-of='ui-viewer']");
            await Expect(adminPage.Locator("#operator-reset-username")).ToHaveTextAsync("ui-viewer");
            await adminPage.FillAsync("#operator-reset-password", "reset-viewer-password");
            await adminPage.ClickAsync("#operator-reset-submit");
            await Expect(adminPage.Locator("#operators-status")).ToContainTextAsync("The password of ui-viewer was set");

            // The viewer: the open alert is listed, but nothing offers to acknowledge it, and there is no Operators screen.
            await LoginAsync(viewerPage, "ui-viewer", "reset-viewer-password");
            await Expect(viewerPage.Locator("#session-role")).ToHaveTextAsync("(viewer)");
            await Expect(viewerPage.Locator($"#alerts li[data-sensor-id='{SensorId}']")).ToBeVisibleAsync(new() { Timeout = 20_000 });
            await Expect(AcknowledgeButton(viewerPage)).ToHaveCountAsync(0);
            await Expect(viewerPage.Locator("#operators-open")).ToBeHiddenAsync();
            await Expect(viewerPage.Locator("#password-open")).ToBeVisibleAsync();

            // The viewer changes their own password: a wrong current one is refused, then the right one works.
            await viewerPage.ClickAsync("#password-open");
            await viewerPage.FillAsync("#password-current", "not-my-password");
            await viewerPage.FillAsync("#password-new", "viewer-chose-this-one");
            await viewerPage.FillAsync("#password-confirm", "viewer-chose-this-one");
            await viewerPage.ClickAsync("#password-submit");
            await Expect(viewerPage.Locator("#password-error")).ToHaveTextAsync("The current password is not right.");
            await viewerPage.FillAsync("#password-current", "reset-viewer-password");
            await viewerPage.ClickAsync("#password-submit");
            await Expect(viewerPage.Locator("#password-dialog")).ToBeHiddenAsync();
            await viewerPage.ClickAsync("#logout");
            // The logout request must finish before the next page load, or that load may still find the session.
            await Expect(viewerPage.Locator("#login-form")).ToBeVisibleAsync();
            await LoginAsync(viewerPage, "ui-viewer", "viewer-chose-this-one");
            await Expect(viewerPage.Locator("#session-user")).ToHaveTextAsync("ui-viewer");

            // Disabled by the admin: the account shows so, and the viewer's page is signed out at its next request.
            await adminPage.ClickAsync("button[data-toggle-of='ui-viewer']");
            await Expect(adminPage.Locator("#operators td[data-account='ui-viewer']")).ToHaveTextAsync("Disabled");
            Assert.Equal(("viewer", true), await OperatorAsync("ui-viewer"));
            await viewerPage.ClickAsync("#password-open");
            await viewerPage.FillAsync("#password-current", "viewer-chose-this-one");
            await viewerPage.FillAsync("#password-new", "yet-another-password");
            await viewerPage.FillAsync("#password-confirm", "yet-another-password");
            await viewerPage.ClickAsync("#password-submit");
            await Expect(viewerPage.Locator("#login-form")).ToBeVisibleAsync();

            Directory.CreateDirectory(Screenshots);
            await adminPage.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "operators.png") });
            Assert.Empty(_pageErrors);
        }
        catch
        {
            Directory.CreateDirectory(Screenshots);
            await adminPage.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "operators-failure-admin.png"), FullPage = true });
            await viewerPage.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "operators-failure-viewer.png"), FullPage = true });
            throw;
        }
    }

    private static ILocator AcknowledgeButton(IPage page) => page.Locator($"#alerts li[data-sensor-id='{SensorId}'] button");

    private async Task LoginAsync(IPage page, string username, string password)
    {
        await page.GotoAsync(_server.BaseAddress.ToString());
        await page.FillAsync("#login-username", username);
        await page.FillAsync("#login-password", password);
        await page.ClickAsync("#login-submit");
        await Expect(page.Locator("#session-user")).ToHaveTextAsync(username);
    }

    /// <summary>A sensor with an open silence alert: provisioned, one heartbeat, then silent past its 1-second threshold.</summary>
    private async Task OpenAlertAsync()
    {
        using var provisioned = await _admin.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = SensorId, silenceThresholdSeconds = 1 });
        Assert.Equal(HttpStatusCode.Created, provisioned.StatusCode);
        var token = (await provisioned.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
        await SensorHeartbeats.StoredAsync(_admin, SensorId, token);

        await Eventually.TrueAsync(
            async () => (await _admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/alerts?sensor={SensorId}", UriKind.Relative))).GetProperty("items").GetArrayLength() == 1,
            Patience,
            $"{SensorId} went silent");
    }

    private async Task<(string Role, bool Disabled)> OperatorAsync(string username)
    {
        var list = await _admin.GetFromJsonAsync<JsonElement>(new Uri("/api/operators", UriKind.Relative));
        var item = list.GetProperty("items").EnumerateArray().Single(operatorItem => operatorItem.GetProperty("username").GetString() == username);
        return (item.GetProperty("role").GetString()!, item.GetProperty("disabled").GetBoolean());
    }
}
