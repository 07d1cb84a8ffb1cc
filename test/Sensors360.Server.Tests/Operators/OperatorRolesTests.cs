using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Operators.OperatorClient;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Operators;

/// <summary>
/// Roles against the real server: viewer reads, operator also changes sensors and alerts, admin also
/// manages operators, imports, trains and reads the audit. The role is read with the session, so a change
/// or a disable applies at the operator's next request on the silo that made it, and within 5 s on every other.
/// </summary>
public sealed class OperatorRolesTests(RunningServer running, ThrowawayPostgres postgres) : IClassFixture<RunningServer>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan EverySilo = TimeSpan.FromSeconds(5);
    private static readonly string[] Roles = ["viewer", "operator", "admin"];

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Each_role_gets_exactly_what_it_may_and_403_with_a_problem_for_the_rest()
    {
        var admin = running.Operator;
        var alertIds = new Dictionary<string, long>();
        foreach (var role in Roles)
        {
            await ProvisionAsync(admin, $"m-{role}-rotate");
            await ProvisionAsync(admin, $"m-{role}-retire");
            var (_, token) = await ProvisionAsync(admin, $"m-{role}-silent", new { id = $"m-{role}-silent", silenceThresholdSeconds = 1 });
            await StoredHeartbeatAsync(running.Server.Http, $"m-{role}-silent", token);
        }

        foreach (var role in Roles)
        {
            alertIds[role] = await OpenAlertOfAsync(admin, $"m-{role}-silent");
        }

        foreach (var role in Roles)
        {
            using var client = await CreateAndLoginAsync(running.Server, admin, $"m-{role}", role);
            foreach (var call in Calls(role, alertIds[role]))
            {
                using var response = await SendAsync(client, call);
                var body = await response.Content.ReadAsStringAsync(Cancel);
                var what = $"{role}: {call.Method} {call.Path} -> {(int)response.StatusCode} {body}";
                if (Allows(role, call.Minimum))
                {
                    Assert.True(call.Reached(response.StatusCode), what);
                }
                else
                {
                    await AssertProblemAsync(response, 403);
                }
            }

            // What was refused changed nothing.
            var refusedOperator = !Allows(role, "operator");
            var refusedAdmin = !Allows(role, "admin");
            Assert.Equal(refusedOperator ? 0 : 1, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor WHERE name = $1", $"m-{role}-new"));
            Assert.Equal(refusedOperator ? 0 : 1, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor WHERE name = $1 AND retired_at IS NOT NULL", $"m-{role}-retire"));
            Assert.Equal(refusedOperator ? 0 : 1, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM alert WHERE id = $1 AND acknowledged_at IS NOT NULL", alertIds[role]));
            Assert.Equal(refusedAdmin ? 0 : 1, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM app_user WHERE username = $1", $"m-{role}-made"));
            Assert.Equal(refusedOperator ? 0 : 1, await Sql.ScalarAsync(running.ConnectionString,
                "SELECT count(*) FROM sensor_pause p JOIN sensor s ON s.id = p.sensor_id WHERE s.name = $1", $"m-{role}-rotate"));
            Assert.Equal(refusedOperator ? 0 : 1, await Sql.ScalarAsync(running.ConnectionString,
                "SELECT count(*) FROM maintenance_window WHERE tags = ARRAY[$1]", $"m-{role}-site"));
        }
    }

    [Fact]
    public async Task Without_a_session_every_operator_route_is_401()
    {
        foreach (var call in Calls("viewer", 1))
        {
            using var response = await SendAsync(running.Server.Http, call);
            await AssertProblemAsync(response, 401);
        }
    }

    [Fact]
    public async Task A_role_change_and_a_disable_made_on_one_silo_apply_on_another_within_5_seconds()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(OperatorRolesTests) + "_two_silos");
        await using var first = ServerProcess.Start(database, "roles-two-silos");
        await using var second = ServerProcess.Start(database, "roles-two-silos", adminPassword: first.AdminPassword);
        await Task.WhenAll(first.WaitUntilReadyAsync(), second.WaitUntilReadyAsync());
        using var admin = await first.LoginAsync();
        await CreateAsync(admin, "two-op", "operator");
        using var user = await second.LoginAsync("two-op", PasswordOf("two-op"));
        using (var allowed = await user.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "two-1" }, Cancel))
        {
            Assert.Equal(HttpStatusCode.Created, allowed.StatusCode);
        }

        // The second silo may have kept the session for a moment (OperatorSessionCache): the change applies there
        // within 5 s of being made, not necessarily at the very next request.
        await ChangeAsync(admin, "two-op", new { role = "viewer" });
        var attempt = 1;
        await Eventually.TrueAsync(
            async () =>
            {
                using var provision = await user.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = $"two-{++attempt}" }, Cancel);
                return provision.StatusCode == HttpStatusCode.Forbidden;
            },
            EverySilo,
            "the demotion applies on the second silo");
        using (var refused = await user.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "two-refused" }, Cancel))
        {
            await AssertProblemAsync(refused, 403);
        }

        await ChangeAsync(admin, "two-op", new { disabled = true });
        await Eventually.TrueAsync(
            async () =>
            {
                using var ended = await user.GetAsync(new Uri("/api/fleet", UriKind.Relative), Cancel);
                return ended.StatusCode == HttpStatusCode.Unauthorized;
            },
            EverySilo,
            "the disable applies on the second silo");
        using (var ended = await user.GetAsync(new Uri("/api/fleet", UriKind.Relative), Cancel))
        {
            await AssertProblemAsync(ended, 401);
        }
    }

    /// <summary>Each role includes the ones below it.</summary>
    private static bool Allows(string role, string minimum) => Array.IndexOf(Roles, role) >= Array.IndexOf(Roles, minimum);

    /// <summary>
    /// Every state-changing and admin route and a read of each kind, with the least role that may call it.
    /// The names are per role, so each role's allowed calls find what they act on.
    /// </summary>
    private static IEnumerable<Call> Calls(string role, long alertId)
    {
        static bool Ok(HttpStatusCode status) => (int)status is >= 200 and < 300;
        var past = DateTimeOffset.UtcNow.AddDays(-1).ToString("O", CultureInfo.InvariantCulture);
        yield return new("viewer", HttpMethod.Get, "/api/sensors", null, Ok);
        yield return new("viewer", HttpMethod.Get, $"/api/sensors/m-{role}-rotate", null, Ok);
        yield return new("viewer", HttpMethod.Get, $"/api/sensors/m-{role}-rotate/heartbeats", null, Ok);
        yield return new("viewer", HttpMethod.Get, "/api/alerts", null, Ok);
        yield return new("viewer", HttpMethod.Get, "/api/fleet", null, Ok);
        yield return new("viewer", HttpMethod.Get, "/api/cluster", null, Ok);
        yield return new("viewer", HttpMethod.Get, "/api/analytics/lifespan", null, Ok);
        yield return new("viewer", HttpMethod.Get, $"/api/sensors/m-{role}-rotate/uptime?days=7", null, Ok);
        yield return new("viewer", HttpMethod.Get, "/api/fleet/uptime", null, Ok);
        yield return new("viewer", HttpMethod.Get, "/api/maintenance", null, Ok);
        yield return new("viewer", HttpMethod.Get, "/api/auth/me", null, Ok);
        yield return new("operator", HttpMethod.Post, "/api/sensors", Json(new { id = $"m-{role}-new" }), Ok);
        yield return new("operator", HttpMethod.Post, $"/api/sensors/m-{role}-rotate/token", null, Ok);
        var future = DateTimeOffset.UtcNow.AddDays(1).ToString("O", CultureInfo.InvariantCulture);
        yield return new("operator", HttpMethod.Post, $"/api/sensors/m-{role}-rotate/pause", Json(new { until = future }), Ok);
        yield return new("operator", HttpMethod.Post, $"/api/sensors/m-{role}-rotate/resume", null, Ok);
        yield return new("operator", HttpMethod.Post, "/api/maintenance", Json(new { end = future, tags = new[] { $"m-{role}-site" } }), Ok);
        yield return new("operator", HttpMethod.Post, $"/api/sensors/m-{role}-retire/retire", null, Ok);
        yield return new("operator", HttpMethod.Post, $"/api/alerts/{alertId}/acknowledge", null, Ok);
        yield return new("admin", HttpMethod.Post, "/api/sensors/bulk", Json(new { sensors = new[] { new { id = $"m-{role}-bulk" } } }), Ok);
        yield return new("admin", HttpMethod.Post, "/api/import/heartbeats", Ndjson($$"""{"sensor":"m-{{role}}-rotate","at":"{{past}}"}"""), Ok);
        // Reached means answered by the handler: without a history it has no model to train yet (503).
        yield return new("admin", HttpMethod.Post, "/api/analytics/at-risk/train", null, status => Ok(status) || status == HttpStatusCode.ServiceUnavailable);
        yield return new("admin", HttpMethod.Get, "/api/operators", null, Ok);
        yield return new("admin", HttpMethod.Post, "/api/operators", Json(new { username = $"m-{role}-made", password = PasswordOf($"m-{role}-made"), role = "viewer" }), Ok);
        yield return new("admin", HttpMethod.Patch, $"/api/operators/m-{role}-made", Json(new { role = "operator" }), Ok);
        yield return new("admin", HttpMethod.Post, $"/api/operators/m-{role}-made/password", Json(new { password = "another-long-password" }), Ok);
        yield return new("admin", HttpMethod.Get, "/api/audit", null, Ok);
        yield return new("admin", HttpMethod.Get, "/api/channels", null, Ok);
        yield return new("admin", HttpMethod.Post, "/api/channels", Json(new { name = $"m-{role}-channel", kind = "slack", url = "http://127.0.0.1:9/", tags = new[] { "m-none" } }), Ok);
        // Last: every role changes its own password, and keeps the session it did it in.
        yield return new("viewer", HttpMethod.Post, "/api/auth/password", Json(new { current = PasswordOf($"m-{role}"), @new = "a-new-long-password" }), Ok);
        yield return new("viewer", HttpMethod.Get, "/api/auth/me", null, Ok);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, Call call)
    {
        using var request = new HttpRequestMessage(call.Method, new Uri(call.Path, UriKind.Relative));
        if (call.Body is { } body)
        {
            request.Content = new StringContent(body.Text, Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(body.ContentType);
        }

        return await client.SendAsync(request, Cancel);
    }

    private static async Task<long> OpenAlertOfAsync(HttpClient admin, string sensorId)
    {
        var alerts = await Eventually.MatchesAsync(
            async () => (await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/alerts?sensor={sensorId}", UriKind.Relative), Cancel)).GetProperty("items"),
            items => items.GetArrayLength() == 1,
            Patience,
            $"{sensorId} went silent");
        return alerts[0].GetProperty("id").GetInt64();
    }

    private static Body Json(object value) => new(JsonSerializer.Serialize(value, JsonSerializerOptions.Web), "application/json");

    private static Body Ndjson(string lines) => new(lines + "\n", "application/x-ndjson");

    private sealed record Body(string Text, string ContentType);

    private sealed record Call(string Minimum, HttpMethod Method, string Path, Body? Body, Func<HttpStatusCode, bool> Reached);
}
