using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Http;

/// <summary>
/// Every route docs/api.md documents, called as its callers call it while PostgreSQL is down: a 503 with a problem body
/// and <c>Retry-After</c>, never a 500 or a 401 (which would send the page to its login); liveness and metrics answer
/// whatever cookie comes along. Once it is back, the first read of each route is answered on the same session, though
/// the pools still hold connections the restart closed (Orleans' membership reads meet one).
/// </summary>
public sealed partial class DatabaseOutageRoutesTests
{
    private const string SensorId = "outage-routes-1";

    // Routes that answer without the database, and what they answer while it is down.
    private static readonly Dictionary<string, HttpStatusCode> WithoutDatabase = new(StringComparer.Ordinal)
    {
        ["GET /healthz"] = HttpStatusCode.OK,
        ["GET /metrics"] = HttpStatusCode.OK,
    };

    [Fact]
    public async Task While_PostgreSQL_is_down_every_documented_route_answers_503_with_a_problem_and_reads_recover()
    {
        var routes = DocumentedRoutes();
        Assert.True(routes.Count >= 40, $"docs/api.md documents {routes.Count} routes; its headings were not read");

        await using var ownPostgres = await ThrowawayPostgres.StartAsync();
        var database = await ownPostgres.CreateDatabaseAsync("outage-routes");
        await using var server = ServerProcess.Start(database, "outage-routes");
        await server.WaitUntilReadyAsync();
        using var admin = await server.LoginAsync();
        using var leaving = await server.LoginAsync();
        var (_, token) = await ProvisionAsync(admin, SensorId);
        await StoredHeartbeatAsync(server.Http, SensorId, token);
        var calls = new RouteCalls(
            token,
            ChannelId: await CreatedIdAsync(admin, "/api/channels", """{"name":"outage-hook","kind":"webhook","url":"http://127.0.0.1:9/hook"}"""),
            MaintenanceId: await CreatedIdAsync(
                admin, "/api/maintenance", $$"""{"end":"{{DateTimeOffset.UtcNow.AddDays(2):O}}","tags":["outage-tag"]}"""));

        await ownPostgres.StopServerAsync();
        var wrong = new List<string>();
        try
        {
            // A session read in the last moments is trusted without the database for a little while; once it is read
            // again, every operator route needs the database.
            await Eventually.MatchesAsync(
                async () =>
                {
                    using var me = await admin.GetAsync(new Uri("/api/auth/me", UriKind.Relative));
                    return $"{(int)me.StatusCode} {await me.Content.ReadAsStringAsync()}";
                },
                answer => answer.StartsWith("503 ", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30),
                "the admin's session is read from the database again");

            foreach (var route in routes)
            {
                var client = route.Key == "POST /api/auth/logout" ? leaving : admin;
                using var response = await client.SendAsync(calls.Request(route));
                var body = await response.Content.ReadAsStringAsync();
                var answer = $"{route}: {(int)response.StatusCode} {body}";
                if (WithoutDatabase.TryGetValue(route.Key, out var expected))
                {
                    if (response.StatusCode != expected)
                    {
                        wrong.Add(answer);
                    }
                }
                else if (route.Key == "GET /readyz")
                {
                    // Unready. (A balancer's probe sends no cookie and gets its health report; this session's
                    // cookie cannot be read, so a problem body.)
                    if (response.StatusCode != HttpStatusCode.ServiceUnavailable)
                    {
                        wrong.Add(answer);
                    }
                }
                else if (!IsUnavailableProblem(response, body))
                {
                    wrong.Add(answer);
                }
            }
        }
        finally
        {
            // Back before anything is asserted: a server left without its database does not stop in time.
            await ownPostgres.StartServerAsync();
        }

        Assert.True(wrong.Count == 0, "answers while PostgreSQL was down:\n" + string.Join('\n', wrong));

        await server.WaitUntilReadyAsync();

        var unread = new List<string>();
        foreach (var route in routes.Where(route => route.Method == HttpMethod.Get))
        {
            using var response = await admin.SendAsync(calls.Request(route));
            var body = await response.Content.ReadAsStringAsync();
            // The ranking's documented answer while there is no history to learn from, as in this database.
            var noModelYet = route.Key == "GET /api/analytics/at-risk" && body.Contains("\"No failure model yet\"", StringComparison.Ordinal);
            if (!response.IsSuccessStatusCode && !noModelYet)
            {
                unread.Add($"{route}: {(int)response.StatusCode} {body}");
            }
        }

        Assert.True(unread.Count == 0, "reads that failed once PostgreSQL was back:\n" + string.Join('\n', unread));

        // Changes are taken again too, on the same session.
        using (var change = await admin.PostAsync(
            new Uri("/api/sensors", UriKind.Relative), new StringContent("""{"id":"outage-routes-4"}""", Encoding.UTF8, "application/json")))
        {
            Assert.True(change.StatusCode == HttpStatusCode.Created, $"a change once PostgreSQL was back: {(int)change.StatusCode} {await change.Content.ReadAsStringAsync()}");
        }
    }

    private static bool IsUnavailableProblem(HttpResponseMessage response, string body)
    {
        if (response.StatusCode != HttpStatusCode.ServiceUnavailable
            || response.Headers.RetryAfter is null
            || response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            return false;
        }

        using var problem = JsonDocument.Parse(body);
        return problem.RootElement.GetProperty("status").GetInt32() == 503
            && !string.IsNullOrEmpty(problem.RootElement.GetProperty("title").GetString());
    }

    private static async Task<long> CreatedIdAsync(HttpClient admin, string path, string json)
    {
        using var response = await admin.PostAsync(new Uri(path, UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{path}: {(int)response.StatusCode} {body}");
        using var created = JsonDocument.Parse(body);
        return created.RootElement.GetProperty("id").GetInt64();
    }

    /// <summary>The routes of docs/api.md's headings (<c>### `GET /path?query`</c>), their queries left off.</summary>
    private static List<Route> DocumentedRoutes() =>
        [.. RouteHeading().Matches(File.ReadAllText(Repository.PathOf("docs", "api.md")))
            .Select(match => new Route(HttpMethod.Parse(match.Groups["method"].Value), match.Groups["path"].Value))];

    [GeneratedRegex(@"^#{2,4} `(?<method>GET|POST|PUT|PATCH|DELETE) (?<path>/[^`?\s]*)[^`]*`", RegexOptions.Multiline)]
    private static partial Regex RouteHeading();

    private sealed record Route(HttpMethod Method, string Path)
    {
        public string Key => $"{Method} {Path}";

        public override string ToString() => Key;
    }

    /// <summary>
    /// Each route's request as its caller sends it, with a body that passes validation, so that only the database can
    /// refuse it: an operator's route first needs its session read, a sensor's its grain, a login the operator's row.
    /// </summary>
    private sealed record RouteCalls(string SensorToken, long ChannelId, long MaintenanceId)
    {
        private static readonly string Future = DateTimeOffset.UtcNow.AddDays(1).ToString("O");

        private static readonly Dictionary<string, (string Body, string ContentType)> Bodies = new(StringComparer.Ordinal)
        {
            ["POST /api/auth/login"] = ("""{"username":"admin","password":"not-the-password"}""", "application/json"),
            ["POST /api/auth/password"] = ("""{"current":"not-the-password","new":"a-new-password-of-length"}""", "application/json"),
            ["POST /api/operators"] = ("""{"username":"ana","password":"a-password-of-length","role":"viewer"}""", "application/json"),
            ["PATCH /api/operators/{username}"] = ("""{"role":"operator"}""", "application/json"),
            ["POST /api/operators/{username}/password"] = ("""{"password":"another-password-1"}""", "application/json"),
            ["POST /api/sensors"] = ("""{"id":"outage-routes-2"}""", "application/json"),
            ["POST /api/sensors/bulk"] = ("""{"sensors":[{"id":"outage-routes-3"}]}""", "application/json"),
            ["POST /api/sensors/{id}/retire"] = ("""{"reason":"decommissioned"}""", "application/json"),
            ["POST /api/sensors/{id}/heartbeats"] = ($$"""{"heartbeats":[{"at":"{{DateTimeOffset.UtcNow.AddMinutes(-1):O}}"}]}""", "application/json"),
            ["POST /api/import/heartbeats"] = ($$"""{"sensor":"{{SensorId}}","at":"{{DateTimeOffset.UtcNow.AddMinutes(-2):O}}"}""" + "\n", "application/x-ndjson"),
            ["POST /api/channels"] = ("""{"name":"outage-hook-2","kind":"webhook","url":"http://127.0.0.1:9/hook"}""", "application/json"),
            ["PATCH /api/channels/{id}"] = ("""{"name":"outage-hook-3"}""", "application/json"),
            ["POST /api/sensors/{id}/pause"] = ($$"""{"until":"{{Future}}","reason":"outage"}""", "application/json"),
            ["POST /api/maintenance"] = ($$"""{"end":"{{Future}}","tags":["outage-tag-2"]}""", "application/json"),
            ["PATCH /api/maintenance/{id}"] = ("""{"reason":"moved"}""", "application/json"),
        };

        public HttpRequestMessage Request(Route route)
        {
            var path = route.Path
                .Replace("{username}", "admin", StringComparison.Ordinal)
                .Replace("{id}", IdFor(route.Path), StringComparison.Ordinal);
            var request = new HttpRequestMessage(route.Method, new Uri(path, UriKind.Relative));
            if (Bodies.TryGetValue(route.Key, out var body))
            {
                request.Content = new StringContent(body.Body, Encoding.UTF8);
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(body.ContentType);
            }

            // The sensor routes take the sensor's token, not a session.
            if (route.Path.StartsWith("/api/sensors/{id}/heartbeat", StringComparison.Ordinal))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SensorToken);
            }

            return request;
        }

        private string IdFor(string path) =>
            path.StartsWith("/api/channels/", StringComparison.Ordinal) ? ChannelId.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : path.StartsWith("/api/maintenance/", StringComparison.Ordinal) ? MaintenanceId.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : path.StartsWith("/api/alerts/", StringComparison.Ordinal) ? "1"
            : SensorId;
    }
}
