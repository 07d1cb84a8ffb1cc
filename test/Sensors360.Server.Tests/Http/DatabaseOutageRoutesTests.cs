using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Http;

/// <summary>
/// Every route docs/api.md documents, called as its callers call it while the database fails, two ways. Down: a 503
/// with a problem body and <c>Retry-After</c>, never a 500 or a 401 (which would send the page to its login); liveness
/// and metrics answer whatever cookie comes along; once it is back, the first read of each route is answered on the same
/// session, though the pools still hold connections the restart closed (Orleans' membership reads meet one).
/// Refusing writes (read only, as a standby is): reads answer, and no change answers success without being stored.
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

    // Changes that store nothing in the calls below, so a database that refuses writes lets them through: their
    // answers (a status, and for a problem its title).
    private static readonly Dictionary<string, (HttpStatusCode Status, string? Title, string Why)> StoringNothing = new(StringComparer.Ordinal)
    {
        ["POST /api/channels/{id}/test"] = (HttpStatusCode.OK, null, "sends to the receiver, outside the outbox"),
        ["POST /api/sensors/{id}/resume"] = (HttpStatusCode.OK, null, "the sensor is not paused (its pause just failed), so nothing changes; its audit event goes to the log"),
        ["POST /api/analytics/at-risk/train"] = (HttpStatusCode.ServiceUnavailable, "No failure model yet", "a model lives in memory; with no history here, its documented answer"),
    };

    // Each call is made as the page makes it, and as a client that accepts no JSON: every answer is JSON all the same.
    private static readonly string?[] Accepts = [null, "text/html"];

    [Fact]
    public async Task While_PostgreSQL_is_down_every_documented_route_answers_503_with_a_problem_and_reads_recover()
    {
        var routes = DocumentedRoutes();
        await using var scene = await Scene.StartAsync("outage-routes");

        await scene.Postgres.StopServerAsync();
        var wrong = new List<string>();
        try
        {
            // A session read in the last moments is trusted without the database for a little while; once it is read
            // again, every operator route needs the database.
            await Eventually.MatchesAsync(
                async () =>
                {
                    using var me = await scene.Admin.GetAsync(new Uri("/api/auth/me", UriKind.Relative));
                    return $"{(int)me.StatusCode} {await me.Content.ReadAsStringAsync()}";
                },
                answer => answer.StartsWith("503 ", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30),
                "the admin's session is read from the database again");

            foreach (var (route, accept) in routes.SelectMany(route => Accepts.Select(accept => (route, accept))))
            {
                var (response, body) = await scene.SendAsync(route, accept);
                using (response)
                {
                    var right = WithoutDatabase.TryGetValue(route.Key, out var expected) ? response.StatusCode == expected
                        // Unready. (A balancer's probe sends no cookie and gets its health report; this session's
                        // cookie cannot be read, so a problem body.)
                        : route.Key == "GET /readyz" ? response.StatusCode == HttpStatusCode.ServiceUnavailable
                        : IsUnavailableProblem(response, body);
                    if (!right)
                    {
                        wrong.Add($"{route} (Accept: {accept}): {(int)response.StatusCode} {body}");
                    }
                }
            }
        }
        finally
        {
            // Back before anything is asserted: a server left without its database does not stop in time.
            await scene.Postgres.StartServerAsync();
        }

        Assert.True(wrong.Count == 0, "answers while PostgreSQL was down:\n" + string.Join('\n', wrong));

        await scene.Server.WaitUntilReadyAsync();
        Assert.Empty(await scene.FailedReadsAsync(routes));
        await scene.AssertChangesAreTakenAsync();
    }

    [Fact]
    public async Task While_the_database_refuses_writes_reads_answer_and_every_documented_change_answers_503()
    {
        var routes = DocumentedRoutes();
        await using var scene = await Scene.StartAsync("read-only-routes");

        await scene.RefuseWritesAsync(true);
        List<string> unread;
        var wrong = new List<string>();
        try
        {
            unread = await scene.FailedReadsAsync(routes);
            var changes = routes.Where(route => route.Method != HttpMethod.Get);
            foreach (var (route, accept) in changes.SelectMany(route => Accepts.Select(accept => (route, accept))))
            {
                var (response, body) = await scene.SendAsync(route, accept);
                using (response)
                {
                    var right = StoringNothing.TryGetValue(route.Key, out var expected)
                        ? response.StatusCode == expected.Status && (expected.Title is null || body.Contains($"\"{expected.Title}\"", StringComparison.Ordinal))
                        : IsUnavailableProblem(response, body);
                    if (!right)
                    {
                        wrong.Add($"{route} (Accept: {accept}): {(int)response.StatusCode} {body}");
                    }
                }
            }
        }
        finally
        {
            await scene.RefuseWritesAsync(false);
        }

        Assert.True(unread.Count == 0, "reads that failed while the database refused writes:\n" + string.Join('\n', unread));
        Assert.True(wrong.Count == 0, "changes while the database refused writes:\n" + string.Join('\n', wrong));
        Assert.Empty(await scene.FailedReadsAsync(routes));
        await scene.AssertChangesAreTakenAsync();
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

    /// <summary>The routes of docs/api.md's headings (<c>### `GET /path?query`</c>), their queries left off.</summary>
    private static List<Route> DocumentedRoutes()
    {
        List<Route> routes = [.. RouteHeading().Matches(File.ReadAllText(Repository.PathOf("docs", "api.md")))
            .Select(match => new Route(HttpMethod.Parse(match.Groups["method"].Value), match.Groups["path"].Value))];
        Assert.True(routes.Count >= 40, $"docs/api.md documents {routes.Count} routes; its headings were not read");
        return routes;
    }

    [GeneratedRegex(@"^#{2,4} `(?<method>GET|POST|PUT|PATCH|DELETE) (?<path>/[^`?\s]*)[^`]*`", RegexOptions.Multiline)]
    private static partial Regex RouteHeading();

    private sealed record Route(HttpMethod Method, string Path)
    {
        public string Key => $"{Method} {Path}";

        public override string ToString() => Key;
    }

    /// <summary>
    /// A server on a PostgreSQL of its own, with one of each thing a route names: a sensor that reported, an open alert,
    /// a channel, a maintenance window and a second operator, and the admin's session (plus a second one to log out).
    /// </summary>
    private sealed class Scene : IAsyncDisposable
    {
        private Scene(ThrowawayPostgres postgres, string database, ServerProcess server)
        {
            Postgres = postgres;
            Database = database;
            Server = server;
        }

        public ThrowawayPostgres Postgres { get; }

        public string Database { get; }

        public ServerProcess Server { get; }

        public HttpClient Admin { get; private set; } = null!;

        private HttpClient Leaving { get; set; } = null!;

        private RouteCalls Calls { get; set; } = null!;

        public static async Task<Scene> StartAsync(string purpose)
        {
            var postgres = await ThrowawayPostgres.StartAsync();
            Scene scene;
            try
            {
                var database = await postgres.CreateDatabaseAsync(purpose);
                scene = new Scene(postgres, database, ServerProcess.Start(database, purpose));
            }
            catch
            {
                await postgres.DisposeAsync();
                throw;
            }

            try
            {
                await scene.Server.WaitUntilReadyAsync();
                scene.Admin = await scene.Server.LoginAsync();
                scene.Leaving = await scene.Server.LoginAsync();
                var (_, token) = await ProvisionAsync(scene.Admin, SensorId);
                await StoredHeartbeatAsync(scene.Server.Http, SensorId, token);
                await ProvisionAsync(scene.Admin, "outage-routes-silent", new { id = "outage-routes-silent", silenceThresholdSeconds = 1 });
                await scene.CreatedAsync("/api/operators", """{"username":"ana","password":"a-password-of-length","role":"viewer"}""");
                var channel = await scene.CreatedAsync("/api/channels", """{"name":"outage-hook","kind":"webhook","url":"http://127.0.0.1:9/hook"}""");
                var window = await scene.CreatedAsync("/api/maintenance", $$"""{"end":"{{DateTimeOffset.UtcNow.AddDays(2):O}}","tags":["outage-tag"]}""");
                var alert = await Eventually.MatchesAsync(scene.OpenAlertIdAsync, id => id is not null, TimeSpan.FromSeconds(30), "the silent sensor's alert is open");
                scene.Calls = new RouteCalls(
                    token, scene.Server.AdminPassword, alert!.Value, channel.GetProperty("id").GetInt64(), window.GetProperty("id").GetInt64());
                return scene;
            }
            catch
            {
                await scene.DisposeAsync();
                throw;
            }
        }

        public async Task<(HttpResponseMessage Response, string Body)> SendAsync(Route route, string? accept = null)
        {
            using var request = Calls.Request(route);
            if (accept is not null)
            {
                request.Headers.Accept.ParseAdd(accept);
            }

            var response = await (route.Key == "POST /api/auth/logout" ? Leaving : Admin).SendAsync(request);
            return (response, await response.Content.ReadAsStringAsync());
        }

        /// <summary>Every documented read, once each, on the admin's session: those that did not answer 2xx.</summary>
        public async Task<List<string>> FailedReadsAsync(IEnumerable<Route> routes)
        {
            var failed = new List<string>();
            foreach (var route in routes.Where(route => route.Method == HttpMethod.Get))
            {
                var (response, body) = await SendAsync(route);
                using (response)
                {
                    // The ranking's documented answer while there is no history to learn from, as in this database.
                    var noModelYet = route.Key == "GET /api/analytics/at-risk" && body.Contains("\"No failure model yet\"", StringComparison.Ordinal);
                    if (!response.IsSuccessStatusCode && !noModelYet)
                    {
                        failed.Add($"{route}: {(int)response.StatusCode} {body}");
                    }
                }
            }

            return failed;
        }

        /// <summary>Changes are taken again, on the same session.</summary>
        public async Task AssertChangesAreTakenAsync()
        {
            using var change = await Admin.PostAsync(
                new Uri("/api/sensors", UriKind.Relative), new StringContent("""{"id":"outage-routes-4"}""", Encoding.UTF8, "application/json"));
            Assert.True(change.StatusCode == HttpStatusCode.Created, $"a change once the database took them again: {(int)change.StatusCode} {await change.Content.ReadAsStringAsync()}");
        }

        /// <summary>
        /// The database read only for new sessions (as a standby is), or writable again, and every session the server
        /// holds on it ended, so its next connections are new ones.
        /// </summary>
        public Task RefuseWritesAsync(bool refuse) =>
            Postgres.AlterDatabaseAsync(Database, $"SET default_transaction_read_only = {(refuse ? "on" : "off")}");

        public async ValueTask DisposeAsync()
        {
            Admin?.Dispose();
            Leaving?.Dispose();
            await Server.DisposeAsync();
            await Postgres.DisposeAsync();
        }

        private async Task<long?> OpenAlertIdAsync()
        {
            using var response = await Admin.GetAsync(new Uri("/api/alerts?state=open", UriKind.Relative));
            using var alerts = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return alerts.RootElement.GetProperty("items").EnumerateArray().Select(alert => (long?)alert.GetProperty("id").GetInt64()).FirstOrDefault();
        }

        private async Task<JsonElement> CreatedAsync(string path, string json)
        {
            using var response = await Admin.PostAsync(new Uri(path, UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Created, $"{path}: {(int)response.StatusCode} {body}");
            return JsonDocument.Parse(body).RootElement.Clone();
        }
    }

    /// <summary>
    /// Each route's request as its caller sends it, with a body that passes validation and names things that exist,
    /// so that only the database can refuse it: an operator's route first needs its session read, a sensor's its
    /// grain, a login the operator's row. <c>{username}</c> is the second operator, so no change touches the admin.
    /// </summary>
    private sealed record RouteCalls(string SensorToken, string AdminPassword, long AlertId, long ChannelId, long MaintenanceId)
    {
        private static readonly string Future = DateTimeOffset.UtcNow.AddDays(1).ToString("O");

        private Dictionary<string, (string Body, string ContentType)> Bodies => new(StringComparer.Ordinal)
        {
            ["POST /api/auth/login"] = ($$"""{"username":"admin","password":{{JsonSerializer.Serialize(AdminPassword)}}}""", "application/json"),
            ["POST /api/auth/password"] = ($$"""{"current":{{JsonSerializer.Serialize(AdminPassword)}},"new":"a-new-password-of-length"}""", "application/json"),
            ["POST /api/operators"] = ("""{"username":"bea","password":"a-password-of-length","role":"viewer"}""", "application/json"),
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
                .Replace("{username}", "ana", StringComparison.Ordinal)
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
            path.StartsWith("/api/channels/", StringComparison.Ordinal) ? ChannelId.ToString(CultureInfo.InvariantCulture)
            : path.StartsWith("/api/maintenance/", StringComparison.Ordinal) ? MaintenanceId.ToString(CultureInfo.InvariantCulture)
            : path.StartsWith("/api/alerts/", StringComparison.Ordinal) ? AlertId.ToString(CultureInfo.InvariantCulture)
            : SensorId;
    }
}
