using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Operators.OperatorClient;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Audit;

/// <summary>
/// The audit trail against the real server: each operator action leaves its event with actor, target and client
/// address; a refused change leaves none; <c>GET /api/audit</c> pages it newest first, for admins only.
/// </summary>
public sealed class AuditApiTests(RunningServer running) : IClassFixture<RunningServer>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private HttpClient Admin => running.Operator;

    [Fact]
    public async Task Each_operator_action_is_recorded_with_its_actor_and_target()
    {
        await CreateAsync(Admin, "aud-op", "viewer");
        Assert.Equal(HttpStatusCode.Unauthorized, await TryLoginAsync(running.Server, "aud-op", "a-wrong-password"));
        await ChangeAsync(Admin, "aud-op", new { role = "operator" });
        using (var reset = await Admin.PostAsJsonAsync(new Uri("/api/operators/aud-op/password", UriKind.Relative), new { password = "reset-by-admin-pw" }, Cancel))
        {
            Assert.Equal(HttpStatusCode.NoContent, reset.StatusCode);
        }

        using var user = await running.Server.LoginAsync("aud-op", "reset-by-admin-pw");
        using (var changed = await user.PostAsJsonAsync(new Uri("/api/auth/password", UriKind.Relative), new { current = "reset-by-admin-pw", @new = "chosen-by-the-op" }, Cancel))
        {
            Assert.Equal(HttpStatusCode.NoContent, changed.StatusCode);
        }

        // The operator's own sensor work, so the actor is theirs and not the admin's.
        var (_, token) = await ProvisionAsync(user, "aud-sensor", new { id = "aud-sensor", silenceThresholdSeconds = 1 });
        await StoredHeartbeatAsync(running.Server.Http, "aud-sensor", token);

        var alertId = await Eventually.MatchesAsync(
            async () => (await user.GetFromJsonAsync<JsonElement>(new Uri("/api/alerts?sensor=aud-sensor", UriKind.Relative), Cancel)).GetProperty("items"),
            items => items.GetArrayLength() == 1,
            Patience,
            "aud-sensor went silent");
        var alert = alertId[0].GetProperty("id").GetInt64().ToString(CultureInfo.InvariantCulture);
        await PostOkAsync(user, $"/api/alerts/{alert}/acknowledge");
        await PostOkAsync(user, "/api/sensors/aud-sensor/token");
        await PostOkAsync(user, "/api/sensors/aud-sensor/retire");
        using (var import = new StringContent($$"""{"sensor":"aud-sensor","at":"{{DateTimeOffset.UtcNow.AddDays(-3):O}}"}""" + "\n", Encoding.UTF8))
        {
            import.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-ndjson");
            using var imported = await Admin.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), import, Cancel);
            Assert.Equal(HttpStatusCode.OK, imported.StatusCode);
        }

        await AssertRecordedAsync("operator.created", "admin", "aud-op", details => Assert.Equal("viewer", details.GetProperty("role").GetString()));
        await AssertRecordedAsync("login.failed", null, "aud-op");
        await AssertRecordedAsync("operator.changed", "admin", "aud-op", details =>
            Assert.Equal(("viewer", "operator"), (details.GetProperty("from").GetProperty("role").GetString(), details.GetProperty("to").GetProperty("role").GetString())));
        await AssertRecordedAsync("operator.password_reset", "admin", "aud-op");
        await AssertRecordedAsync("login.succeeded", "aud-op", "aud-op");
        await AssertRecordedAsync("password.changed", "aud-op", "aud-op");
        await AssertRecordedAsync("sensor.provisioned", "aud-op", "aud-sensor");
        await AssertRecordedAsync("alert.acknowledged", "aud-op", alert, details => Assert.Equal("aud-sensor", details.GetProperty("sensor").GetString()));
        await AssertRecordedAsync("sensor.token_rotated", "aud-op", "aud-sensor");
        await AssertRecordedAsync("sensor.retired", "aud-op", "aud-sensor", details => Assert.Equal("failed", details.GetProperty("reason").GetString()));
        await AssertRecordedAsync("import.heartbeats", "admin", null, details => Assert.Equal(1, details.GetProperty("imported").GetInt64()));

        // Passwords and tokens never reach the trail.
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString,
            "SELECT count(*) FROM audit_event WHERE details::text LIKE '%reset-by-admin-pw%' OR details::text LIKE '%chosen-by-the-op%' OR details::text LIKE '%s360_%'"));
    }

    [Fact]
    public async Task A_refused_change_records_nothing()
    {
        await CreateAsync(Admin, "aud-dup", "viewer");
        var before = await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM audit_event WHERE action LIKE 'operator.%'");

        using (var duplicate = await Admin.PostAsJsonAsync(
            new Uri("/api/operators", UriKind.Relative), new { username = "aud-dup", password = PasswordOf("aud-dup"), role = "viewer" }, Cancel))
        {
            await AssertProblemAsync(duplicate, 409);
        }

        using (var lastAdmin = await PatchAsync(Admin, "admin", new { role = "viewer" }))
        {
            await AssertProblemAsync(lastAdmin, 409);
        }

        Assert.Equal(before, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM audit_event WHERE action LIKE 'operator.%'"));
    }

    [Fact]
    public async Task The_trail_pages_newest_first_and_filters_by_actor_and_action()
    {
        for (var i = 0; i < 5; i++)
        {
            await ProvisionAsync(Admin, $"aud-page-{i}");
        }

        var seen = new List<long>();
        string? cursor = null;
        do
        {
            var page = await Admin.GetFromJsonAsync<JsonElement>(
                new Uri($"/api/audit?limit=2&actor=admin&action=sensor.provisioned{(cursor is null ? "" : $"&cursor={cursor}")}", UriKind.Relative), Cancel);
            var items = page.GetProperty("items").EnumerateArray().ToList();
            Assert.InRange(items.Count, 1, 2);
            Assert.All(items, item => Assert.Equal(("admin", "sensor.provisioned"), (item.GetProperty("actor").GetString(), item.GetProperty("action").GetString())));
            seen.AddRange(items.Select(item => item.GetProperty("id").GetInt64()));
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);

        Assert.Equal(seen.OrderDescending(), seen);
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Equal(await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM audit_event WHERE actor = 'admin' AND action = 'sensor.provisioned'"), seen.Count);
        Assert.True(seen.Count >= 5);
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=lots")]
    [InlineData("cursor=abc")]
    [InlineData("action=DROP%20TABLE")]
    [InlineData("action=login.failed%0A")]
    [InlineData("actor=admin%0A")]
    public async Task Bad_query_parameters_are_a_400_problem(string query)
    {
        using var response = await Admin.GetAsync(new Uri($"/api/audit?{query}", UriKind.Relative), Cancel);
        await AssertProblemAsync(response, 400);
    }

    [Fact]
    public async Task Viewers_and_operators_get_403_and_anonymous_callers_401()
    {
        using var viewer = await CreateAndLoginAsync(running.Server, Admin, "aud-viewer", "viewer");
        using var operatorClient = await CreateAndLoginAsync(running.Server, Admin, "aud-operator", "operator");
        foreach (var client in new[] { viewer, operatorClient })
        {
            using var response = await client.GetAsync(new Uri("/api/audit", UriKind.Relative), Cancel);
            await AssertProblemAsync(response, 403);
        }

        using var anonymous = await running.Server.Http.GetAsync(new Uri("/api/audit", UriKind.Relative), Cancel);
        await AssertProblemAsync(anonymous, 401);
    }

    private async Task AssertRecordedAsync(string action, string? actor, string? target, Action<JsonElement>? details = null)
    {
        var page = await Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/audit?action={action}&limit=1000", UriKind.Relative), Cancel);
        var items = page.GetProperty("items").EnumerateArray()
            .Where(item => item.GetProperty("target").GetString() == target && (target is not null || item.GetProperty("actor").GetString() == actor))
            .ToList();
        var recorded = Assert.Single(items);
        Assert.Equal(action, recorded.GetProperty("action").GetString());
        Assert.Equal(actor, recorded.GetProperty("actor").GetString());
        Assert.Equal("127.0.0.1", recorded.GetProperty("clientAddress").GetString());
        Assert.True(recorded.GetProperty("at").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-5), $"{action} at {recorded.GetProperty("at")}");
        details?.Invoke(recorded.GetProperty("details"));
    }

    private static async Task PostOkAsync(HttpClient client, string path)
    {
        using var response = await client.PostAsync(new Uri(path, UriKind.Relative), null, Cancel);
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"POST {path}: {(int)response.StatusCode} {body}");
    }
}
