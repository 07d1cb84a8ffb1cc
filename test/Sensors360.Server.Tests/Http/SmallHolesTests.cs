using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Http;

/// <summary>
/// Strict input rules, /readyz for anonymous callers and the browser security headers, against the real server.
/// </summary>
public sealed class SmallHolesTests(RunningServer running) : IClassFixture<RunningServer>
{
    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_trailing_newline_in_an_id_tag_or_metric_name_is_a_400_everywhere()
    {
        const string id = "newline-ok";
        var (_, token) = await ProvisionAsync(running.Operator, id);

        // Bodies: a provision's id and tags, a heartbeat's metric name, a buffered heartbeat's metric name.
        using (var provision = await running.Operator.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "newline-1\n" }, Cancel))
        {
            await AssertProblemAsync(provision, 400);
        }

        using (var tags = await running.Operator.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "newline-2", tags = new[] { "roof", "roof\n" } }, Cancel))
        {
            await AssertProblemAsync(tags, 400);
        }

        using (var metric = await HeartbeatAsync(running.Server.Http, id, token, """{"metrics":{"battery\n":0.5}}"""))
        {
            await AssertProblemAsync(metric, 400);
        }

        using (var buffered = await PostJsonAsync(running.Server.Http, $"/api/sensors/{id}/heartbeats", token,
            $$$"""{"heartbeats":[{"at":"{{{DateTimeOffset.UtcNow.AddMinutes(-1):O}}}","metrics":{"battery\n":0.5}}]}"""))
        {
            await AssertProblemAsync(buffered, 400);
        }

        // Routes and queries: %0A is the newline.
        using (var heartbeat = await HeartbeatAsync(running.Server.Http, "newline-ok%0A", token))
        {
            await AssertProblemAsync(heartbeat, 400);
        }

        foreach (var path in new[]
        {
            "/api/sensors/newline-ok%0A",
            "/api/sensors/newline-ok%0A/heartbeats",
            $"/api/sensors/{id}/series?metric=battery%0A&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&points=10",
            "/api/sensors?tag=roof%0A",
            "/api/alerts?sensor=newline-ok%0A",
        })
        {
            using var response = await running.Operator.GetAsync(new Uri(path, UriKind.Relative), Cancel);
            await AssertProblemAsync(response, 400);
        }

        // Neither refused provision left a sensor (the class's other test provisions a newline-… sensor of its own).
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor WHERE name LIKE 'newline-1%' OR name LIKE 'newline-2%'"));
    }

    [Fact]
    public async Task An_import_line_whose_sensor_id_ends_in_a_newline_is_rejected_by_the_id_rule()
    {
        const string id = "newline-import";
        _ = await ProvisionAsync(running.Operator, id);
        var at = DateTimeOffset.UtcNow.AddHours(-1).ToString("O");
        var body = $$"""{"sensor":"{{id}}\n","at":"{{at}}"}""" + "\n" + $$$"""{"sensor":"{{{id}}}","at":"{{{at}}}","metrics":{"battery\n":1}}""" + "\n";
        using var content = new StringContent(body, Encoding.UTF8, "application/x-ndjson");

        using var response = await running.Operator.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), content, Cancel);

        var text = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        using var result = JsonDocument.Parse(text);
        Assert.Equal(0, result.RootElement.GetProperty("imported").GetInt64());
        Assert.Equal(2, result.RootElement.GetProperty("rejected").GetInt64());
        var errors = result.RootElement.GetProperty("errors").EnumerateArray().Select(error => error.GetProperty("error").GetString()).ToList();
        Assert.Contains("sensor id", errors[0], StringComparison.Ordinal);
        Assert.Contains("Metric name", errors[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Readyz_tells_anonymous_callers_the_status_alone_and_an_operator_each_check()
    {
        using var anonymous = await running.Server.Http.GetAsync(new Uri("/readyz", UriKind.Relative), Cancel);
        Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        Assert.Equal("""{"status":"healthy"}""", await anonymous.Content.ReadAsStringAsync(Cancel));

        var detailed = await running.Operator.GetFromJsonAsync<JsonElement>(new Uri("/readyz", UriKind.Relative), Cancel);
        Assert.Equal("healthy", detailed.GetProperty("status").GetString());
        Assert.Contains("is active", detailed.GetProperty("checks").GetProperty("silo").GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("text/html")]
    [InlineData("text/plain")]
    public async Task Errors_the_framework_writes_are_problem_bodies_whatever_the_caller_accepts(string? accept)
    {
        foreach (var (method, path, contentType, body, status) in new (HttpMethod, string, string?, string?, int)[]
        {
            (HttpMethod.Get, "/api/no-such-route", null, null, 404),
            (HttpMethod.Put, "/api/channels", "application/json", "{}", 405),
            (HttpMethod.Post, "/api/channels", "application/json", "{\"name\":", 400),
            (HttpMethod.Post, "/api/channels", "text/plain", "name", 415),
        })
        {
            using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
            if (accept is not null)
            {
                request.Headers.Add("Accept", accept);
            }

            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, contentType!);
            }

            using var response = await running.Operator.SendAsync(request, Cancel);
            await AssertProblemAsync(response, status);
        }
    }

    [Fact]
    public async Task A_heartbeat_whose_body_is_broken_on_the_wire_is_a_400_problem_not_a_500()
    {
        const string id = "broken-body";
        var (_, token) = await ProvisionAsync(running.Operator, id);
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(running.Server.BaseAddress.Host, running.Server.BaseAddress.Port, Cancel);
        var stream = client.GetStream();
        // "zz" is no chunk size: Kestrel fails the endpoint's body read with a bad request.
        var request = $"POST /api/sensors/{id}/heartbeat HTTP/1.1\r\nHost: {running.Server.BaseAddress.Authority}\r\n" +
            $"Authorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), Cancel);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var answer = await reader.ReadToEndAsync(Cancel);

        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
        Assert.Contains("Content-Type: application/problem+json", answer, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"status\":400", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Text_and_times_the_database_cannot_hold_are_bad_input_not_a_500()
    {
        const string id = "unstorable-1";
        var (_, token) = await ProvisionAsync(running.Operator, id);
        await StoredHeartbeatAsync(running.Server.Http, id, token);
        var until = DateTimeOffset.UtcNow.AddDays(1).ToString("O");
        var wrong = new List<string>();
        foreach (var (method, path, body) in new (HttpMethod, string, string?)[]
        {
            // U+0000, which PostgreSQL's text and jsonb cannot hold, in each free text field that is stored.
            (HttpMethod.Post, $"/api/sensors/{id}/pause", $$"""{"until":"{{until}}","reason":"pump\u0000"}"""),
            (HttpMethod.Post, "/api/maintenance", $$"""{"end":"{{until}}","tags":["site-a"],"reason":"pump\u0000"}"""),
            (HttpMethod.Post, "/api/channels", """{"name":"hook\u0000","kind":"webhook","url":"http://127.0.0.1:9/hook"}"""),
            (HttpMethod.Post, "/api/channels", """{"name":"hook-url","kind":"webhook","url":"http://127.0.0.1:9/ho\u0000ok"}"""),
            (HttpMethod.Post, "/api/channels", """{"name":"mail","kind":"email","email":{"host":"127.0.0.1","port":25,"tls":"none","username":"u\u0000","password":"p","from":"a@example.com","to":["b@example.com"]}}"""),
            (HttpMethod.Post, "/api/channels", """{"name":"mail-from","kind":"email","email":{"host":"127.0.0.1","port":25,"tls":"none","from":"a@example.com (\u0000)","to":["b@example.com"]}}"""),
            (HttpMethod.Post, "/api/channels", """{"name":"mail-host","kind":"email","email":{"host":"fe80::1%\u0000","port":25,"tls":"none","from":"a@example.com","to":["b@example.com"]}}"""),
            // The first instant .NET can hold, which Npgsql sends as -infinity, and a time whose bucket starts there.
            (HttpMethod.Get, $"/api/sensors/{id}/series?from=0001-01-01T00:00:00Z", null),
            (HttpMethod.Get, $"/api/sensors/{id}/series?from=0001-01-01T00:05:00Z&to=0001-01-02T00:00:00Z", null),
        })
        {
            using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            }

            using var response = await running.Operator.SendAsync(request, Cancel);
            if (response.StatusCode != HttpStatusCode.BadRequest || response.Content.Headers.ContentType?.MediaType != "application/problem+json")
            {
                wrong.Add($"{method} {path} {body}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Cancel)}");
            }
        }

        // A buffered heartbeat in year 1 would be stored in its month's partition, which starts at -infinity.
        using (var buffered = await PostJsonAsync(running.Server.Http, $"/api/sensors/{id}/heartbeats", token, """{"heartbeats":[{"at":"0001-01-01T00:05:00Z"}]}"""))
        {
            if (buffered.StatusCode != HttpStatusCode.BadRequest)
            {
                wrong.Add($"a buffered heartbeat in year 1: {(int)buffered.StatusCode} {await buffered.Content.ReadAsStringAsync(Cancel)}");
            }
        }

        Assert.True(wrong.Count == 0, "not a 400 problem:\n" + string.Join('\n', wrong));

        // A window whose reason was stored before the rule (a line break) can still be changed: only what is sent is checked.
        using (var created = await running.Operator.PostAsync(
            new Uri("/api/maintenance", UriKind.Relative), new StringContent($$"""{"end":"{{until}}","tags":["site-old"]}""", Encoding.UTF8, "application/json"), Cancel))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var windowId = JsonDocument.Parse(await created.Content.ReadAsStringAsync(Cancel)).RootElement.GetProperty("id").GetInt64();
            await Sql.ScalarAsync(running.ConnectionString, $"UPDATE maintenance_window SET reason = E'line\\nbreak' WHERE id = {windowId} RETURNING 1");
            using var patch = new HttpRequestMessage(HttpMethod.Patch, new Uri($"/api/maintenance/{windowId}", UriKind.Relative))
            {
                Content = new StringContent($$"""{"end":"{{DateTimeOffset.UtcNow.AddDays(2):O}}"}""", Encoding.UTF8, "application/json"),
            };
            using var changed = await running.Operator.SendAsync(patch, Cancel);
            Assert.True(changed.StatusCode == HttpStatusCode.OK, $"{(int)changed.StatusCode} {await changed.Content.ReadAsStringAsync(Cancel)}");
        }

        // A login name no account can have is a wrong name, like any other.
        using var login = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/auth/login", UriKind.Relative))
        {
            Content = new StringContent("""{"username":"admin\u0000","password":"not the password"}""", Encoding.UTF8, "application/json"),
        };
        login.Headers.Add("Origin", running.Server.Origin);
        using var refused = await running.Server.Http.SendAsync(login, Cancel);
        await AssertProblemAsync(refused, 401);
        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM audit_event WHERE action = 'login.failed' AND target = 'admin\uFFFD'"));

        // A long name is audited cut to a username's 64 characters, never through the middle of a character.
        var longName = new string('a', 63) + "\U0001F600";
        using var longLogin = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/auth/login", UriKind.Relative))
        {
            Content = JsonContent.Create(new { username = longName, password = "not the password" }),
        };
        longLogin.Headers.Add("Origin", running.Server.Origin);
        using var longRefused = await running.Server.Http.SendAsync(longLogin, Cancel);
        await AssertProblemAsync(longRefused, 401);
        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString, $"SELECT count(*) FROM audit_event WHERE action = 'login.failed' AND target = '{new string('a', 63)}'"));
    }

    [Fact]
    public async Task The_page_its_files_and_the_API_send_CSP_nosniff_and_Referrer_Policy()
    {
        foreach (var path in new[] { "/", "/index.html", "/app.css", "/js/app.js", "/healthz", "/api/auth/me", "/no-such-file" })
        {
            using var response = await running.Server.Http.GetAsync(new Uri(path, UriKind.Relative), Cancel);
            Assert.Equal(ContentSecurityPolicy, Header(response, "Content-Security-Policy"));
            Assert.Equal("nosniff", Header(response, "X-Content-Type-Options"));
            Assert.Equal("same-origin", Header(response, "Referrer-Policy"));
        }
    }

    [Fact]
    public async Task The_page_has_no_inline_script_style_or_event_handler_that_its_CSP_would_block()
    {
        var html = await running.Server.Http.GetStringAsync(new Uri("/", UriKind.Relative), Cancel);

        Assert.DoesNotMatch(@"<script(?![^>]*\bsrc=)[^>]*>", html);
        Assert.DoesNotContain("<style", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch(@"\s(style|on[a-z]+)\s*=", html);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? string.Join(", ", values) : null;

    private static async Task<HttpResponseMessage> PostJsonAsync(HttpClient client, string path, string token, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative))
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return await client.SendAsync(request, Cancel);
    }
}
