using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Identity;
using Npgsql;
using Sensors360.Server.Operators;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Operators;

/// <summary>Operators' login, sessions and the first admin, against the real server and database.</summary>
public sealed class OperatorAuthTests(ThrowawayPostgres postgres)
{
    private const string ProblemJson = "application/problem+json";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Login_answers_the_operator_and_sets_an_HttpOnly_SameSite_Strict_session_cookie()
    {
        await using var server = await StartReadyAsync(nameof(Login_answers_the_operator_and_sets_an_HttpOnly_SameSite_Strict_session_cookie));
        using var client = CookielessClient(server);

        using var login = await PostLoginAsync(client, new { username = "admin", password = server.AdminPassword });

        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        Assert.Equal(("admin", "admin"), await ReadOperatorAsync(login));
        var setCookie = Assert.Single(login.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith($"{OperatorSessions.CookieName}=", setCookie, StringComparison.Ordinal);
        var attributes = setCookie.Split(';').Skip(1).Select(attribute => attribute.Trim().ToLowerInvariant()).ToList();
        Assert.Contains("httponly", attributes);
        Assert.Contains("samesite=strict", attributes);
        Assert.Contains("path=/", attributes);
        Assert.DoesNotContain("secure", attributes); // plain http: SameAsRequest

        using var me = await SendAsync(client, HttpMethod.Get, "/api/auth/me", CookieOf(login));
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(("admin", "admin"), await ReadOperatorAsync(me));
    }

    [Fact]
    public async Task A_wrong_password_and_an_unknown_user_get_the_same_401_problem_and_no_cookie()
    {
        await using var server = await StartReadyAsync(nameof(A_wrong_password_and_an_unknown_user_get_the_same_401_problem_and_no_cookie));
        using var client = CookielessClient(server);

        using var wrongPassword = await PostLoginAsync(client, new { username = "admin", password = server.AdminPassword + "x" });
        using var unknownUser = await PostLoginAsync(client, new { username = "nobody", password = server.AdminPassword });

        var wrong = await AssertProblemAsync(wrongPassword, HttpStatusCode.Unauthorized);
        var unknown = await AssertProblemAsync(unknownUser, HttpStatusCode.Unauthorized);
        Assert.Equal(wrong, unknown);
        Assert.False(wrongPassword.Headers.Contains("Set-Cookie"));
        Assert.False(unknownUser.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task Malformed_or_incomplete_login_bodies_get_400_problem()
    {
        await using var server = await StartReadyAsync(nameof(Malformed_or_incomplete_login_bodies_get_400_problem));
        using var client = CookielessClient(server);

        // Ten requests in all: every login request counts toward the per-address limit.
        (string Body, string ContentType)[] requests =
        [
            ("{not json", "application/json"),
            ("", "application/json"),
            ("null", "application/json"),
            ("{}", "application/json"),
            ("""{"username":"admin"}""", "application/json"),
            ("""{"username":" ","password":"secret"}""", "application/json"),
            ("""{"username":"admin","password":""}""", "application/json"),
            ("""{"username":7,"password":"secret"}""", "application/json"),
            ($$"""{"username":"admin","password":"{{server.AdminPassword}}"}""", "text/plain"),
        ];
        foreach (var (body, contentType) in requests)
        {
            using var content = new StringContent(body, Encoding.UTF8, contentType);
            using var response = await client.PostAsync(new Uri("/api/auth/login", UriKind.Relative), content, Cancel);
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, $"{contentType} {body}");
        }

        using var noBody = await client.PostAsync(new Uri("/api/auth/login", UriKind.Relative), content: null, Cancel);
        await AssertProblemAsync(noBody, HttpStatusCode.BadRequest, "no body");
    }

    [Fact]
    public async Task Api_routes_without_a_session_get_401_problem_and_no_redirect_while_health_stays_open()
    {
        await using var server = await StartReadyAsync(nameof(Api_routes_without_a_session_get_401_problem_and_no_redirect_while_health_stays_open));
        using var client = CookielessClient(server);

        (HttpMethod Method, string Path)[] routes =
        [
            (HttpMethod.Get, "/api/auth/me"),
            (HttpMethod.Post, "/api/auth/logout"),
            (HttpMethod.Get, "/api/cluster"),
            (HttpMethod.Get, "/api/no-such-route"),
        ];
        foreach (var (method, path) in routes)
        {
            using var response = await SendAsync(client, method, path);
            await AssertProblemAsync(response, HttpStatusCode.Unauthorized, $"{method} {path}");
            Assert.Null(response.Headers.Location);
        }

        using var forged = await SendAsync(client, HttpMethod.Get, "/api/auth/me", $"{OperatorSessions.CookieName}=forged");
        await AssertProblemAsync(forged, HttpStatusCode.Unauthorized, "a forged cookie");

        foreach (var path in new[] { "/healthz", "/readyz" })
        {
            using var health = await SendAsync(client, HttpMethod.Get, path);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
    }

    [Fact]
    public async Task Logout_ends_the_session()
    {
        await using var server = await StartReadyAsync(nameof(Logout_ends_the_session));
        using var session = await server.LoginAsync();
        using (var before = await session.GetAsync(new Uri("/api/auth/me", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        using var logout = await session.PostAsync(new Uri("/api/auth/logout", UriKind.Relative), content: null, Cancel);

        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        var cleared = Assert.Single(logout.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith($"{OperatorSessions.CookieName}=;", cleared, StringComparison.Ordinal);
        Assert.Contains("expires=Thu, 01 Jan 1970", cleared, StringComparison.OrdinalIgnoreCase);
        using var after = await session.GetAsync(new Uri("/api/auth/me", UriKind.Relative), Cancel);
        await AssertProblemAsync(after, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task The_first_admin_is_stored_as_a_PasswordHasher_hash_and_its_password_is_never_logged()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(The_first_admin_is_stored_as_a_PasswordHasher_hash_and_its_password_is_never_logged));
        await using var server = ServerProcess.Start(database, "hashed");
        await server.WaitUntilReadyAsync();

        var admin = Assert.Single(await ReadOperatorsAsync(database));
        Assert.Equal(("admin", OperatorRoles.Admin), (admin.Username, admin.Role));
        Assert.DoesNotContain(server.AdminPassword, admin.PasswordHash, StringComparison.Ordinal);
        var hasher = new PasswordHasher<OperatorAccount>();
        Assert.Equal(PasswordVerificationResult.Success, hasher.VerifyHashedPassword(admin, admin.PasswordHash, server.AdminPassword));
        Assert.Equal(PasswordVerificationResult.Failed, hasher.VerifyHashedPassword(admin, admin.PasswordHash, server.AdminPassword + "x"));

        Assert.Single(server.Output, line => line.Contains("created admin admin", StringComparison.Ordinal));
        Assert.DoesNotContain(server.Output, line => line.Contains(server.AdminPassword, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bootstrap_creates_nobody_when_an_operator_already_exists()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Bootstrap_creates_nobody_when_an_operator_already_exists));
        await using var first = ServerProcess.Start(database, "bootstrap-once");
        await first.WaitUntilReadyAsync();
        await using var second = ServerProcess.Start(database, "bootstrap-once", adminPassword: "a different bootstrap password");
        await second.WaitUntilReadyAsync();
        using var client = CookielessClient(second);

        using var withSecondPassword = await PostLoginAsync(client, new { username = "admin", password = second.AdminPassword });
        await AssertProblemAsync(withSecondPassword, HttpStatusCode.Unauthorized);
        using var withFirstPassword = await PostLoginAsync(client, new { username = "admin", password = first.AdminPassword });
        Assert.Equal(HttpStatusCode.OK, withFirstPassword.StatusCode);
        Assert.Single(await ReadOperatorsAsync(database));
        Assert.DoesNotContain(second.Output, line => line.Contains("created admin", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_operators_or_a_bootstrap_password_the_server_starts_creates_nobody_and_says_so()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Without_operators_or_a_bootstrap_password_the_server_starts_creates_nobody_and_says_so));
        await using var server = ServerProcess.Start(database, "no-bootstrap", new Dictionary<string, string?>
        {
            ["Sensors360__Bootstrap__AdminPassword"] = null,
        });
        await server.WaitUntilReadyAsync();

        Assert.Empty(await ReadOperatorsAsync(database));
        Assert.Single(server.Output, line => line.Contains("Sensors360__Bootstrap__AdminPassword", StringComparison.Ordinal));
        using var client = CookielessClient(server);
        using var login = await PostLoginAsync(client, new { username = "admin", password = "admin" });
        await AssertProblemAsync(login, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task An_invalid_bootstrap_user_name_stops_the_server_with_one_clear_line()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(An_invalid_bootstrap_user_name_stops_the_server_with_one_clear_line));
        await using var server = ServerProcess.Start(database, "bad-admin-name", new Dictionary<string, string?>
        {
            ["Sensors360__Bootstrap__AdminUser"] = new string('a', 65),
        });

        Assert.NotEqual(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Single(server.Output, line => line.Contains("Sensors360:Bootstrap:AdminUser must be 1 to 64 characters", StringComparison.Ordinal));
        Assert.DoesNotContain(server.Output, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.Empty(await ReadOperatorsAsync(database));
    }

    [Fact]
    public async Task A_session_from_one_server_is_accepted_by_another_on_the_same_database()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_session_from_one_server_is_accepted_by_another_on_the_same_database));
        // Started together on an empty database and logged in on both at once, so both reach for a session key together.
        await using var first = ServerProcess.Start(database, "shared-sessions");
        await using var second = ServerProcess.Start(database, "shared-sessions", adminPassword: first.AdminPassword);
        await Task.WhenAll(first.WaitUntilReadyAsync(), second.WaitUntilReadyAsync());
        using var client = CookielessClient(first);
        var credentials = new { username = "admin", password = first.AdminPassword };
        var logins = await Task.WhenAll(PostLoginAsync(client, credentials, first.BaseAddress), PostLoginAsync(client, credentials, second.BaseAddress));

        foreach (var (login, reader) in new[] { (logins[0], second), (logins[1], first) })
        {
            Assert.Equal(HttpStatusCode.OK, login.StatusCode);
            using var me = await SendAsync(client, HttpMethod.Get, new Uri(reader.BaseAddress, "/api/auth/me").ToString(), CookieOf(login));
            Assert.Equal(HttpStatusCode.OK, me.StatusCode);
            Assert.Equal(("admin", "admin"), await ReadOperatorAsync(me));
            login.Dispose();
        }

        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM data_protection_key"));
    }

    [Fact]
    public async Task Login_attempts_beyond_the_limit_get_429_problem_even_with_the_right_password()
    {
        await using var server = await StartReadyAsync(nameof(Login_attempts_beyond_the_limit_get_429_problem_even_with_the_right_password));
        using var client = CookielessClient(server);

        for (var attempt = 1; attempt <= OperatorAuthApi.LoginAttemptsPerMinute; attempt++)
        {
            using var wrong = await PostLoginAsync(client, new { username = "admin", password = $"guess {attempt}" });
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var limited = await PostLoginAsync(client, new { username = "admin", password = server.AdminPassword });
        await AssertProblemAsync(limited, HttpStatusCode.TooManyRequests);
        Assert.NotNull(limited.Headers.RetryAfter);
        Assert.False(limited.Headers.Contains("Set-Cookie"));
    }

    private async Task<ServerProcess> StartReadyAsync(string purpose)
    {
        var server = ServerProcess.Start(await postgres.CreateDatabaseAsync(purpose), purpose.ToLowerInvariant()[..Math.Min(purpose.Length, 30)]);
        try
        {
            await server.WaitUntilReadyAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A client that keeps no cookies and follows no redirects, so the raw headers can be checked; it names the
    /// server's origin as its page would.
    /// </summary>
    private static HttpClient CookielessClient(ServerProcess server) =>
        new(server.NewHandler()) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30), DefaultRequestHeaders = { { "Origin", server.Origin } } };

    private static async Task<HttpResponseMessage> PostLoginAsync(HttpClient client, object body, Uri? server = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, server is null ? new Uri("/api/auth/login", UriKind.Relative) : new Uri(server, "/api/auth/login"))
        {
            Content = JsonContent.Create(body),
        };
        if (server is not null)
        {
            request.Headers.Add("Origin", server.GetLeftPart(UriPartial.Authority));
        }

        return await client.SendAsync(request, Cancel);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string? cookie = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.RelativeOrAbsolute));
        if (request.RequestUri!.IsAbsoluteUri)
        {
            request.Headers.Add("Origin", request.RequestUri.GetLeftPart(UriPartial.Authority));
        }

        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        return await client.SendAsync(request, Cancel);
    }

    /// <summary>The <c>name=value</c> part of the session cookie a response set.</summary>
    private static string CookieOf(HttpResponseMessage response) =>
        response.Headers.GetValues("Set-Cookie").Single().Split(';')[0];

    private static async Task<(string Username, string Role)> ReadOperatorAsync(HttpResponseMessage response)
    {
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        return (body.RootElement.GetProperty("username").GetString()!, body.RootElement.GetProperty("role").GetString()!);
    }

    /// <summary>Checks the status and the problem body, and returns the body's title and detail.</summary>
    private static async Task<(string? Title, string? Detail)> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? what = null)
    {
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == status, $"{what}: expected {(int)status}, got {(int)response.StatusCode} {body}");
        Assert.Equal(ProblemJson, response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        return (
            problem.RootElement.TryGetProperty("title", out var title) ? title.GetString() : null,
            problem.RootElement.TryGetProperty("detail", out var detail) ? detail.GetString() : null);
    }

    private static async Task<List<OperatorAccount>> ReadOperatorsAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(Cancel);
        await using var command = new NpgsqlCommand("SELECT id, username, password_hash, role FROM app_user ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync(Cancel);
        var operators = new List<OperatorAccount>();
        while (await reader.ReadAsync(Cancel))
        {
            operators.Add(new OperatorAccount(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }

        return operators;
    }
}
