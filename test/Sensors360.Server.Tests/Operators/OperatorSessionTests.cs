using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Server.Operators;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Operators;

/// <summary>
/// Sessions kept on the server, against real servers and the database: a cookie value copied before the
/// session ended must stop working everywhere.
/// </summary>
public sealed class OperatorSessionTests(ThrowawayPostgres postgres)
{
    // A session ended anywhere but through the server at hand is refused there within this (docs/security.md).
    private static readonly TimeSpan EverySilo = TimeSpan.FromSeconds(5);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task After_logout_a_copied_cookie_gets_401_on_the_same_server_and_on_another_on_the_same_database()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(After_logout_a_copied_cookie_gets_401_on_the_same_server_and_on_another_on_the_same_database));
        await using var first = ServerProcess.Start(database, "logout-everywhere");
        await using var second = ServerProcess.Start(database, "logout-everywhere", adminPassword: first.AdminPassword);
        await Task.WhenAll(first.WaitUntilReadyAsync(), second.WaitUntilReadyAsync());
        using var client = CookielessClient();
        var cookie = await LoginAsync(client, first);
        Assert.Equal(HttpStatusCode.OK, await MeAsync(client, first, cookie));
        Assert.Equal(HttpStatusCode.OK, await MeAsync(client, second, cookie));
        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session s JOIN app_user u ON u.id = s.user_id WHERE u.username = 'admin'"));

        using (var logout = await SendAsync(client, HttpMethod.Post, first, "/api/auth/logout", cookie))
        {
            Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        }

        // The copy is replayed as is, with nothing the logout response could have cleared: refused at once where the
        // logout was made, and within 5 s on the other server, which may have kept the session for a moment.
        Assert.Equal(HttpStatusCode.Unauthorized, await MeAsync(client, first, cookie));
        await Eventually.TrueAsync(
            async () => await MeAsync(client, second, cookie) == HttpStatusCode.Unauthorized, EverySilo, "the other server refuses the logged-out session");
        using (var again = await SendAsync(client, HttpMethod.Post, second, "/api/auth/logout", cookie))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
        }

        Assert.Equal(0, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session"));
    }

    [Fact]
    public async Task A_session_survives_a_server_restart()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_session_survives_a_server_restart));
        string cookie;
        string adminPassword;
        using var client = CookielessClient();
        await using (var before = ServerProcess.Start(database, "restart-session"))
        {
            await before.WaitUntilReadyAsync();
            adminPassword = before.AdminPassword;
            cookie = await LoginAsync(client, before);
            await before.StopAsync();
        }

        await using var after = ServerProcess.Start(database, "restart-session", adminPassword: adminPassword);
        await after.WaitUntilReadyAsync();

        using var me = await SendAsync(client, HttpMethod.Get, after, "/api/auth/me", cookie);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        using var body = JsonDocument.Parse(await me.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("admin", body.RootElement.GetProperty("username").GetString());
    }

    [Fact]
    public async Task An_expired_session_is_refused_and_a_later_login_deletes_it()
    {
        await using var server = await StartReadyAsync(nameof(An_expired_session_is_refused_and_a_later_login_deletes_it));
        var database = server.ConnectionString;
        using var client = CookielessClient();
        var expired = await LoginAsync(client, server.Process);
        var live = await LoginAsync(client, server.Process);
        Assert.Equal(HttpStatusCode.OK, await MeAsync(client, server.Process, expired));

        // Every session but the newest ends a minute ago, as if its 8 hours without a request had passed.
        Assert.Equal(1, await Sql.ScalarAsync(database, """
            WITH ended AS (
                UPDATE operator_session SET expires_at = now() - interval '1 minute'
                WHERE created_at < (SELECT max(created_at) FROM operator_session) RETURNING 1)
            SELECT count(*) FROM ended
            """));

        // Ended in the database, not through this server, which may have kept the session for a moment.
        await Eventually.TrueAsync(
            async () => await MeAsync(client, server.Process, expired) == HttpStatusCode.Unauthorized, EverySilo, "the expired session is refused");
        Assert.Equal(HttpStatusCode.OK, await MeAsync(client, server.Process, live));
        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session WHERE expires_at <= now()"));

        _ = await LoginAsync(client, server.Process);
        await Eventually.TrueAsync(
            async () => await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session WHERE expires_at <= now()") == 0,
            TimeSpan.FromSeconds(10),
            "the expired session is deleted");
        Assert.Equal(2, await Sql.ScalarAsync(database, "SELECT count(*) FROM operator_session"));
        Assert.Equal(HttpStatusCode.OK, await MeAsync(client, server.Process, live));
    }

    [Fact]
    public async Task Logging_in_with_a_session_cookie_starts_a_new_session_and_ends_the_old_one()
    {
        await using var server = await StartReadyAsync(nameof(Logging_in_with_a_session_cookie_starts_a_new_session_and_ends_the_old_one));
        using var client = CookielessClient();
        var old = await LoginAsync(client, server.Process);

        // A cookie someone planted in the browser before the login must not become the operator's session.
        var renewed = await LoginAsync(client, server.Process, old);

        Assert.Equal(HttpStatusCode.Unauthorized, await MeAsync(client, server.Process, old));
        Assert.Equal(HttpStatusCode.OK, await MeAsync(client, server.Process, renewed));
        Assert.Equal(1, await Sql.ScalarAsync(server.ConnectionString, "SELECT count(*) FROM operator_session"));
    }

    [Fact]
    public async Task Deleting_an_operator_ends_their_sessions()
    {
        await using var server = await StartReadyAsync(nameof(Deleting_an_operator_ends_their_sessions));
        using var client = CookielessClient();
        var cookie = await LoginAsync(client, server.Process);
        Assert.Equal(HttpStatusCode.OK, await MeAsync(client, server.Process, cookie));

        Assert.Equal(1, await Sql.ScalarAsync(server.ConnectionString, "WITH gone AS (DELETE FROM app_user WHERE username = 'admin' RETURNING 1) SELECT count(*) FROM gone"));

        await Eventually.TrueAsync(
            async () => await MeAsync(client, server.Process, cookie) == HttpStatusCode.Unauthorized, EverySilo, "the deleted operator's session is refused");
        Assert.Equal(0, await Sql.ScalarAsync(server.ConnectionString, "SELECT count(*) FROM operator_session"));
    }

    [Fact]
    public async Task While_the_database_is_down_a_session_gets_503_not_401_and_works_again_when_it_is_back()
    {
        await using var ownPostgres = await ThrowawayPostgres.StartAsync();
        var database = await ownPostgres.CreateDatabaseAsync("session-outage");
        await using var server = ServerProcess.Start(database, "session-outage");
        await server.WaitUntilReadyAsync();
        using var client = CookielessClient();
        var cookie = await LoginAsync(client, server);

        await ownPostgres.StopServerAsync();
        // /api/auth/me reads nothing but the session, so this is the session lookup failing.
        using (var during = await SendAsync(client, HttpMethod.Get, server, "/api/auth/me", cookie))
        {
            var body = await during.Content.ReadAsStringAsync(Cancel);
            Assert.True(during.StatusCode == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)during.StatusCode} {body}");
            Assert.Equal("application/problem+json", during.Content.Headers.ContentType?.MediaType);
            Assert.NotNull(during.Headers.RetryAfter);
        }

        await ownPostgres.StartServerAsync();
        await Eventually.TrueAsync(
            async () => await MeAsync(client, server, cookie) == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30),
            "the session works again once PostgreSQL is back");
    }

    private async Task<ServerOnDatabase> StartReadyAsync(string purpose)
    {
        var database = await postgres.CreateDatabaseAsync(purpose);
        var server = ServerProcess.Start(database, purpose.ToLowerInvariant()[..Math.Min(purpose.Length, 30)]);
        try
        {
            await server.WaitUntilReadyAsync();
            return new ServerOnDatabase(server, database);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>A client that keeps no cookies: every request carries exactly the cookie the test gives it.</summary>
    private static HttpClient CookielessClient() =>
        new(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Logs in as the bootstrap admin and returns the raw <c>name=value</c> of the session cookie.</summary>
    private static async Task<string> LoginAsync(HttpClient client, ServerProcess server, string? cookie = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseAddress, "/api/auth/login"))
        {
            Content = JsonContent.Create(new { username = "admin", password = server.AdminPassword }),
            Headers = { { "Origin", server.Origin } },
        };
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        using var response = await client.SendAsync(request, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith($"{OperatorSessions.CookieName}=", setCookie, StringComparison.Ordinal);
        return setCookie.Split(';')[0];
    }

    private static async Task<HttpStatusCode> MeAsync(HttpClient client, ServerProcess server, string cookie)
    {
        using var response = await SendAsync(client, HttpMethod.Get, server, "/api/auth/me", cookie);
        return response.StatusCode;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, ServerProcess server, string path, string cookie)
    {
        using var request = new HttpRequestMessage(method, new Uri(server.BaseAddress, path));
        request.Headers.Add("Cookie", cookie);
        request.Headers.Add("Origin", server.Origin);
        return await client.SendAsync(request, Cancel);
    }

    private sealed record ServerOnDatabase(ServerProcess Process, string ConnectionString) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Process.DisposeAsync();
    }
}
