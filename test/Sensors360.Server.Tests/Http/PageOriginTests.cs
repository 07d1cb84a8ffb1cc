using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Server.Tests.Dashboard;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Http;

/// <summary>
/// Cross-site request forgery against the real server: a request that changes state with an operator's session
/// cookie must come from the server's own page (Sec-Fetch-Site or Origin), or it is refused and changes nothing.
/// </summary>
public sealed class PageOriginTests(RunningServer running) : IClassFixture<RunningServer>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>What a page elsewhere makes the browser send (the browser adds the session cookie itself).</summary>
    public static TheoryData<string, string, string> CrossSiteHeaders => new()
    {
        { "another site", "Origin", "http://evil.example" },
        { "another port of the same host", "Origin", "http://127.0.0.1:1" },
        { "the null origin", "Origin", "null" },
        { "fetch metadata: cross-site", "Sec-Fetch-Site", "cross-site" },
        { "fetch metadata: same-site", "Sec-Fetch-Site", "same-site" },
        { "no header at all", "", "" },
    };

    [Theory]
    [MemberData(nameof(CrossSiteHeaders))]
    public async Task Cross_site_retire_rotate_acknowledge_and_logout_are_refused_and_change_nothing(string from, string header, string value)
    {
        var id = $"csrf-{string.Concat(from.Where(char.IsAsciiLetterOrDigit))}";
        var (_, token) = await ProvisionAsync(running.Operator, id, new { id, silenceThresholdSeconds = 1 });
        var alertId = await RaiseAlertAsync(id, token);
        var cookies = new CookieContainer();
        using var session = await running.Server.LoginAsync(cookies: cookies);
        using var forged = new HttpClient(running.Server.NewHandler(cookies)) { BaseAddress = running.Server.BaseAddress };

        foreach (var path in new[] { $"/api/sensors/{id}/retire", $"/api/sensors/{id}/token", $"/api/alerts/{alertId}/acknowledge", "/api/auth/logout" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative));
            if (header.Length > 0)
            {
                request.Headers.Add(header, value);
            }

            using var refused = await forged.SendAsync(request, Cancel);
            await AssertProblemAsync(refused, 403);
        }

        // Nothing changed: the sensor is not retired, its token still works, the alert is unacknowledged, the session lives.
        var sensor = await running.Operator.GetFromJsonAsync<JsonElement>(new Uri($"/api/sensors/{id}", UriKind.Relative), Cancel);
        Assert.NotEqual("retired", sensor.GetProperty("status").GetString());
        await StoredHeartbeatAsync(running.Server.Http, id, token);

        Assert.Equal(JsonValueKind.Null, (await ReadAlertAsync(id, alertId)).GetProperty("acknowledgedBy").ValueKind);
        using var me = await forged.GetAsync(new Uri("/api/auth/me", UriKind.Relative), Cancel);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
    }

    [Fact]
    public async Task Changes_from_the_page_pass_by_Sec_Fetch_Site_or_by_Origin()
    {
        const string id = "csrf-same-origin";
        var (_, token) = await ProvisionAsync(running.Operator, id, new { id, silenceThresholdSeconds = 1 });
        var alertId = await RaiseAlertAsync(id, token);
        var cookies = new CookieContainer();
        using var session = await running.Server.LoginAsync(cookies: cookies);
        using var page = new HttpClient(running.Server.NewHandler(cookies)) { BaseAddress = running.Server.BaseAddress };

        using (var acknowledge = await PostAsync(page, $"/api/alerts/{alertId}/acknowledge", "Sec-Fetch-Site", "same-origin"))
        {
            Assert.Equal(HttpStatusCode.OK, acknowledge.StatusCode);
        }

        using (var rotate = await PostAsync(page, $"/api/sensors/{id}/token", "Origin", running.Server.Origin))
        {
            Assert.Equal(HttpStatusCode.OK, rotate.StatusCode);
        }

        using (var retire = await PostAsync(page, $"/api/sensors/{id}/retire", "Sec-Fetch-Site", "same-origin"))
        {
            Assert.Equal(HttpStatusCode.OK, retire.StatusCode);
        }

        using var logout = await PostAsync(page, "/api/auth/logout", "Origin", running.Server.Origin);
        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        Assert.Equal("admin", (await ReadAlertAsync(id, alertId)).GetProperty("acknowledgedBy").GetString());
    }

    [Fact]
    public async Task A_login_from_another_origin_or_without_either_header_is_refused_and_sets_no_cookie()
    {
        using var client = new HttpClient(running.Server.NewHandler()) { BaseAddress = running.Server.BaseAddress };
        var credentials = new { username = "admin", password = running.Server.AdminPassword };
        foreach (var (header, value) in new[] { ("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site"), ("", "") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/auth/login", UriKind.Relative)) { Content = JsonContent.Create(credentials) };
            if (header.Length > 0)
            {
                request.Headers.Add(header, value);
            }

            using var refused = await client.SendAsync(request, Cancel);
            await AssertProblemAsync(refused, 403);
            Assert.False(refused.Headers.Contains("Set-Cookie"), $"{header}: {value}");
        }
    }

    [Fact]
    public async Task A_sensor_heartbeat_with_its_bearer_token_needs_neither_header()
    {
        const string id = "csrf-bearer";
        var (_, token) = await ProvisionAsync(running.Operator, id);
        // No cookie, no Origin, no fetch metadata: a device, not a browser.
        using var device = new HttpClient(running.Server.NewHandler()) { BaseAddress = running.Server.BaseAddress };

        using var beat = await HeartbeatAsync(device, id, token, """{"metrics":{"battery":0.9}}""");

        Assert.Equal(HttpStatusCode.NoContent, beat.StatusCode);
    }

    [Fact]
    public async Task A_WebSocket_upgrade_from_a_foreign_origin_is_refused_and_from_the_page_accepted()
    {
        foreach (var origin in new[] { "http://evil.example", "http://127.0.0.1:1", "null" })
        {
            Assert.Equal(HttpStatusCode.Forbidden, await FeedClient.RefusedWithAsync(running.Server, running.OperatorCookies, origin));
        }

        await using var own = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies, running.Server.Origin);
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, own.Socket.State);
    }

    private async Task<long> RaiseAlertAsync(string id, string token)
    {
        await StoredHeartbeatAsync(running.Server.Http, id, token);

        var alert = await Eventually.MatchesAsync(
            () => ReadAlertsAsync(id),
            alerts => alerts.Count > 0,
            TimeSpan.FromSeconds(30),
            $"{id} goes silent");
        return alert[0].GetProperty("id").GetInt64();
    }

    private async Task<JsonElement> ReadAlertAsync(string id, long alertId) =>
        (await ReadAlertsAsync(id)).Single(alert => alert.GetProperty("id").GetInt64() == alertId);

    private async Task<List<JsonElement>> ReadAlertsAsync(string id)
    {
        var page = await running.Operator.GetFromJsonAsync<JsonElement>(new Uri($"/api/alerts?state=all&sensor={id}", UriKind.Relative), Cancel);
        return [.. page.GetProperty("items").EnumerateArray()];
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string header, string value)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative));
        request.Headers.Add(header, value);
        return await client.SendAsync(request, Cancel);
    }
}
