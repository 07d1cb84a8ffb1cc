using System.Net;
using System.Net.Http.Json;
using Sensors360.Server.Operators;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Http;

/// <summary>
/// HTTPS, directly (a generated certificate) and behind a TLS proxy (forwarded headers from a trusted address),
/// and the session's absolute lifetime: real servers on real databases.
/// </summary>
public sealed class HttpsTests(ThrowawayPostgres postgres)
{
    private const string ForwardedFor = "X-Forwarded-For";
    private const string ForwardedProto = "X-Forwarded-Proto";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Over_https_the_server_sends_HSTS_and_a_Secure_Host_prefixed_session_cookie()
    {
        using var certificate = SelfSignedCertificate.Create();
        var database = await postgres.CreateDatabaseAsync(nameof(Over_https_the_server_sends_HSTS_and_a_Secure_Host_prefixed_session_cookie));
        await using var server = ServerProcess.Start(database, "https-direct", https: certificate);
        await server.WaitUntilReadyAsync();
        Assert.Equal("https", server.BaseAddress.Scheme);
        using var client = new HttpClient(server.NewHandler()) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

        using (var health = await client.GetAsync(new Uri("/healthz", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.StartsWith("max-age=", Assert.Single(health.Headers.GetValues("Strict-Transport-Security")), StringComparison.Ordinal);
        }

        using var login = await PostLoginAsync(client, server.Origin, server.AdminPassword);
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var setCookie = Assert.Single(login.Headers.GetValues("Set-Cookie"));
        AssertSecureHostCookie(setCookie);

        using var me = await SendAsync(client, HttpMethod.Get, "/api/auth/me", setCookie.Split(';')[0], origin: null);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        // The plain-http name means nothing on https: no other page can plant or shadow the session.
        using var plainName = await SendAsync(client, HttpMethod.Get, "/api/auth/me", $"{OperatorSessions.CookieName}={setCookie.Split(';')[0].Split('=', 2)[1]}", origin: null);
        Assert.Equal(HttpStatusCode.Unauthorized, plainName.StatusCode);
    }

    [Fact]
    public async Task Over_https_errors_carry_HSTS_too_even_those_the_exception_handler_writes()
    {
        using var certificate = SelfSignedCertificate.Create();
        var database = await postgres.CreateDatabaseAsync(nameof(Over_https_errors_carry_HSTS_too_even_those_the_exception_handler_writes));
        await using var server = ServerProcess.Start(database, "https-errors", https: certificate);
        await server.WaitUntilReadyAsync();
        using var client = new HttpClient(server.NewHandler()) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        using var login = await PostLoginAsync(client, server.Origin, server.AdminPassword);
        var cookie = Assert.Single(login.Headers.GetValues("Set-Cookie")).Split(';')[0];

        using (var unknown = await SendAsync(client, HttpMethod.Get, "/api/no-such-route", cookie, origin: null))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.True(unknown.Headers.Contains("Strict-Transport-Security"), "HSTS on a status-code page");
        }

        // The server's database refuses connections: the audit read throws, and the exception handler answers.
        await postgres.AlterDatabaseAsync(database, "ALLOW_CONNECTIONS false");
        try
        {
            using var unavailable = await SendAsync(client, HttpMethod.Get, "/api/audit", cookie, origin: null);
            await AssertProblemAsync(unavailable, 503);
            Assert.True(unavailable.Headers.Contains("Strict-Transport-Security"), "HSTS on the exception handler's 503");
            Assert.True(unavailable.Headers.Contains("Retry-After"));
        }
        finally
        {
            await postgres.AlterDatabaseAsync(database, "ALLOW_CONNECTIONS true");
        }
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_the_cookie_is_Secure_and_the_login_limit_keys_on_the_forwarded_client()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Behind_a_trusted_proxy_the_cookie_is_Secure_and_the_login_limit_keys_on_the_forwarded_client));
        await using var server = ServerProcess.Start(database, "trusted-proxy", new Dictionary<string, string?>
        {
            ["Sensors360__Http__KnownProxies__0"] = "127.0.0.1",
        });
        await server.WaitUntilReadyAsync();
        using var client = new HttpClient(server.NewHandler()) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        // What the browser behind the proxy sees, and so sends as its Origin.
        var proxiedOrigin = $"https://{server.BaseAddress.Authority}";

        using (var login = await PostLoginAsync(client, proxiedOrigin, server.AdminPassword, forwardedFor: "203.0.113.5"))
        {
            Assert.Equal(HttpStatusCode.OK, login.StatusCode);
            AssertSecureHostCookie(Assert.Single(login.Headers.GetValues("Set-Cookie")));
            Assert.True(login.Headers.Contains("Strict-Transport-Security"), "HSTS when the proxy says https");
        }

        await AssertLoginLimitKeysOnAsync(client, server, proxiedOrigin, keyedOnForwardedClient: true);
    }

    /// <summary>
    /// The heartbeat route is short-circuited at routing (it skips the cookie, origin and authorization middleware it
    /// does not use); what stands before routing still applies to it: the forwarded client keys its refusal limit, HSTS and
    /// the security headers are sent, and refusals are problem bodies.
    /// </summary>
    [Fact]
    public async Task Behind_a_trusted_proxy_the_heartbeat_route_keys_refusals_on_the_forwarded_client_and_sends_HSTS_and_problem_bodies()
    {
        const int RefusalsPerMinute = 3;
        var database = await postgres.CreateDatabaseAsync(nameof(Behind_a_trusted_proxy_the_heartbeat_route_keys_refusals_on_the_forwarded_client_and_sends_HSTS_and_problem_bodies));
        await using var server = ServerProcess.Start(database, "heartbeat-edge", new Dictionary<string, string?>
        {
            ["Sensors360__Http__KnownProxies__0"] = "127.0.0.1",
            ["Sensors360__Ingest__MaxRefusedHeartbeatsPerMinute"] = RefusalsPerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        await server.WaitUntilReadyAsync();
        using var client = new HttpClient(server.NewHandler()) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

        for (var attempt = 0; attempt < RefusalsPerMinute; attempt++)
        {
            using var refused = await PostHeartbeatAsync(client, "edge-ghost-1", $"s360_guess-{attempt}", forwardedFor: "203.0.113.7");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.True(refused.Headers.Contains("Strict-Transport-Security"), "HSTS when the proxy says https");
            Assert.Equal("nosniff", Assert.Single(refused.Headers.GetValues("X-Content-Type-Options")));
            Assert.Contains("frame-ancestors 'none'", Assert.Single(refused.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        }

        using (var limited = await PostHeartbeatAsync(client, "edge-ghost-1", "s360_guess-last", forwardedFor: "203.0.113.7"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
        }

        // Another client behind the same proxy has its own budget: the limit saw the forwarded address, not the proxy's.
        using var other = await PostHeartbeatAsync(client, "edge-ghost-1", "s360_other", forwardedFor: "203.0.113.8");
        Assert.Equal(HttpStatusCode.Unauthorized, other.StatusCode);
    }

    [Fact]
    public async Task Without_known_proxies_forwarded_headers_are_ignored()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Without_known_proxies_forwarded_headers_are_ignored));
        await using var server = ServerProcess.Start(database, "untrusted-proxy");
        await server.WaitUntilReadyAsync();
        using var client = new HttpClient(server.NewHandler()) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

        // Claiming https is not believed: the request stays plain http, and only the http origin is its own.
        using (var claimed = await PostLoginAsync(client, $"https://{server.BaseAddress.Authority}", server.AdminPassword, forwardedFor: "203.0.113.5"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, claimed.StatusCode);
        }

        using (var login = await PostLoginAsync(client, server.Origin, server.AdminPassword, forwardedFor: "203.0.113.5"))
        {
            Assert.Equal(HttpStatusCode.OK, login.StatusCode);
            var setCookie = Assert.Single(login.Headers.GetValues("Set-Cookie"));
            Assert.StartsWith($"{OperatorSessions.CookieName}=", setCookie, StringComparison.Ordinal);
            Assert.DoesNotContain("secure", Attributes(setCookie));
            Assert.False(login.Headers.Contains("Strict-Transport-Security"), "no HSTS over plain http");
        }

        await AssertLoginLimitKeysOnAsync(client, server, server.Origin, keyedOnForwardedClient: false);
    }

    [Fact]
    public async Task A_session_in_constant_use_ends_at_its_absolute_lifetime()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_session_in_constant_use_ends_at_its_absolute_lifetime));
        await using var server = ServerProcess.Start(database, "session-lifetime", new Dictionary<string, string?>
        {
            ["Sensors360__Operators__SessionLifetime"] = "00:00:05",
        });
        await server.WaitUntilReadyAsync();
        using var client = new HttpClient(server.NewHandler()) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        using var login = await PostLoginAsync(client, server.Origin, server.AdminPassword);
        var cookie = Assert.Single(login.Headers.GetValues("Set-Cookie")).Split(';')[0];
        var loggedIn = System.Diagnostics.Stopwatch.StartNew();

        // Every poll is a request on the session, so it is never idle; it must end anyway.
        var firstRefusal = await Eventually.MatchesAsync(
            async () =>
            {
                using var me = await SendAsync(client, HttpMethod.Get, "/api/auth/me", cookie, origin: null);
                return (me.StatusCode, loggedIn.Elapsed);
            },
            seen => seen.StatusCode != HttpStatusCode.OK,
            TimeSpan.FromSeconds(30),
            "the busy session is refused after its 5 s lifetime");

        Assert.Equal(HttpStatusCode.Unauthorized, firstRefusal.StatusCode);
        Assert.True(firstRefusal.Elapsed >= TimeSpan.FromSeconds(4), $"refused after {firstRefusal.Elapsed}, before its lifetime");
    }

    [Theory]
    [InlineData("Sensors360__Http__KnownProxies__0", "proxy.example", "Sensors360:Http:KnownProxies:0")]
    [InlineData("Sensors360__Http__KnownNetworks__0", "10.0.0.0/99", "Sensors360:Http:KnownNetworks:0")]
    [InlineData("Sensors360__Operators__SessionLifetime", "-00:00:01", "Sensors360:Operators:SessionLifetime")]
    public async Task An_invalid_proxy_or_session_setting_stops_the_server_with_one_clear_line(string variable, string value, string named)
    {
        var database = await postgres.CreateDatabaseAsync($"invalid-{named.Replace(':', '-')}");
        await using var server = ServerProcess.Start(database, "invalid-edge", new Dictionary<string, string?> { [variable] = value });

        Assert.NotEqual(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Single(server.Output, line => line.Contains("Invalid setting", StringComparison.Ordinal) && line.Contains(named, StringComparison.Ordinal));
        Assert.DoesNotContain(server.Output, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    /// <summary>
    /// Ten wrong passwords from one client exhaust that client's login attempts; whether another client is then
    /// still let in shows what the limit counts: the forwarded client, or the connection (the proxy).
    /// </summary>
    private static async Task AssertLoginLimitKeysOnAsync(HttpClient client, ServerProcess server, string origin, bool keyedOnForwardedClient)
    {
        // The successful login above counted for 203.0.113.5 only; these are another client's. Each guesses another
        // name, so the limit per account (ten failures at one name) stays out of it.
        for (var attempt = 1; attempt < OperatorAuthApi.LoginAttemptsPerMinute; attempt++)
        {
            using var wrong = await PostLoginAsync(client, origin, $"guess {attempt}", forwardedFor: "203.0.113.7", username: $"guessed-{attempt}");
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using (var tenth = await PostLoginAsync(client, origin, "guess 10", forwardedFor: "203.0.113.7", username: "guessed-10"))
        {
            // Without trusted proxies the first login shares the limit: this is the eleventh from 127.0.0.1.
            Assert.Equal(keyedOnForwardedClient ? HttpStatusCode.Unauthorized : HttpStatusCode.TooManyRequests, tenth.StatusCode);
        }

        using (var limited = await PostLoginAsync(client, origin, server.AdminPassword, forwardedFor: "203.0.113.7"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        }

        using var other = await PostLoginAsync(client, origin, server.AdminPassword, forwardedFor: "203.0.113.8");
        Assert.Equal(keyedOnForwardedClient ? HttpStatusCode.OK : HttpStatusCode.TooManyRequests, other.StatusCode);
    }

    private static void AssertSecureHostCookie(string setCookie)
    {
        Assert.StartsWith($"{OperatorSessions.SecureCookieName}=", setCookie, StringComparison.Ordinal);
        var attributes = Attributes(setCookie);
        Assert.Contains("secure", attributes);
        Assert.Contains("path=/", attributes);
        Assert.Contains("httponly", attributes);
        Assert.DoesNotContain(attributes, attribute => attribute.StartsWith("domain=", StringComparison.Ordinal));
    }

    private static List<string> Attributes(string setCookie) =>
        [.. setCookie.Split(';').Skip(1).Select(attribute => attribute.Trim().ToLowerInvariant())];

    private static async Task<HttpResponseMessage> PostLoginAsync(
        HttpClient client, string origin, string password, string? forwardedFor = null, string username = "admin")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/auth/login", UriKind.Relative))
        {
            Content = JsonContent.Create(new { username, password }),
        };
        request.Headers.Add("Origin", origin);
        if (forwardedFor is not null)
        {
            request.Headers.Add(ForwardedFor, forwardedFor);
            request.Headers.Add(ForwardedProto, "https");
        }

        return await client.SendAsync(request, Cancel);
    }

    private static async Task<HttpResponseMessage> PostHeartbeatAsync(HttpClient client, string sensorId, string token, string forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/api/sensors/{sensorId}/heartbeat", UriKind.Relative));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        request.Headers.Add(ForwardedFor, forwardedFor);
        request.Headers.Add(ForwardedProto, "https");
        return await client.SendAsync(request, Cancel);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string cookie, string? origin)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        request.Headers.Add("Cookie", cookie);
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        return await client.SendAsync(request, Cancel);
    }
}
