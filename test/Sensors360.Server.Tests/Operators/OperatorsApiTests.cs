using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Operators.OperatorClient;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Operators;

/// <summary>
/// <c>/api/operators</c> against the real server: an admin lists, creates and changes operators; names,
/// roles and passwords are checked; the last enabled admin stays, also when two admins race.
/// </summary>
public sealed class OperatorsApiTests(RunningServer running, ThrowawayPostgres postgres) : IClassFixture<RunningServer>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private HttpClient Admin => running.Operator;

    [Fact]
    public async Task An_admin_creates_an_operator_who_can_log_in_and_is_listed_with_role_and_times()
    {
        using (var created = await Admin.PostAsJsonAsync(
            new Uri("/api/operators", UriKind.Relative), new { username = "new-viewer", password = PasswordOf("new-viewer"), role = "viewer" }, Cancel))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal("/api/operators/new-viewer", created.Headers.Location?.OriginalString);
            var body = await created.Content.ReadFromJsonAsync<JsonElement>(Cancel);
            Assert.Equal("new-viewer", body.GetProperty("username").GetString());
            Assert.Equal("viewer", body.GetProperty("role").GetString());
            Assert.False(body.GetProperty("disabled").GetBoolean());
            Assert.False(body.TryGetProperty("passwordHash", out _));
        }

        using (var duplicate = await Admin.PostAsJsonAsync(
            new Uri("/api/operators", UriKind.Relative), new { username = "new-viewer", password = "some-other-password", role = "admin" }, Cancel))
        {
            await AssertProblemAsync(duplicate, 409);
        }

        using var viewer = await running.Server.LoginAsync("new-viewer", PasswordOf("new-viewer"));
        Assert.Equal("viewer", await RoleAsync(viewer));

        var list = await Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/operators", UriKind.Relative), Cancel);
        var items = list.GetProperty("items").EnumerateArray().ToList();
        var listed = Assert.Single(items, item => item.GetProperty("username").GetString() == "new-viewer");
        Assert.Equal("viewer", listed.GetProperty("role").GetString());
        Assert.True(listed.GetProperty("createdAt").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-5));
        Assert.True(listed.GetProperty("lastLoginAt").GetDateTimeOffset() >= listed.GetProperty("createdAt").GetDateTimeOffset());
        Assert.Contains(items, item => item.GetProperty("username").GetString() == "admin" && item.GetProperty("role").GetString() == "admin");
    }

    [Theory]
    [InlineData("bad\n", "a-long-enough-password", "viewer")] // $ would let the trailing newline through
    [InlineData("has space", "a-long-enough-password", "viewer")]
    [InlineData("", "a-long-enough-password", "viewer")]
    [InlineData("short-pw", "elevenchars", "viewer")]
    [InlineData("same-as-name-x", "SAME-AS-NAME-X", "viewer")]
    [InlineData("bad-role", "a-long-enough-password", "root")]
    [InlineData("no-role", "a-long-enough-password", null)]
    public async Task A_bad_username_password_or_role_is_a_400_problem_and_creates_nothing(string username, string password, string? role)
    {
        using var response = await Admin.PostAsJsonAsync(new Uri("/api/operators", UriKind.Relative), new { username, password, role }, Cancel);
        await AssertProblemAsync(response, 400);
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM app_user WHERE username = $1", username));
    }

    [Fact]
    public async Task Changes_name_an_existing_operator_and_something_to_change()
    {
        await CreateAsync(Admin, "ch-user", "viewer");
        using (var unknown = await PatchAsync(Admin, "nobody-here", new { role = "operator" }))
        {
            await AssertProblemAsync(unknown, 404);
        }

        using (var nothing = await PatchAsync(Admin, "ch-user", new { }))
        {
            await AssertProblemAsync(nothing, 400);
        }

        using (var badRole = await PatchAsync(Admin, "ch-user", new { role = "root" }))
        {
            await AssertProblemAsync(badRole, 400);
        }

        using var changed = await PatchAsync(Admin, "ch-user", new { role = "operator", disabled = true });
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        var body = await changed.Content.ReadFromJsonAsync<JsonElement>(Cancel);
        Assert.Equal(("operator", true), (body.GetProperty("role").GetString(), body.GetProperty("disabled").GetBoolean()));
        using (var weakReset = await Admin.PostAsJsonAsync(new Uri("/api/operators/ch-user/password", UriKind.Relative), new { password = "ch-user" }, Cancel))
        {
            await AssertProblemAsync(weakReset, 400);
        }

        using (var unknownReset = await Admin.PostAsJsonAsync(new Uri("/api/operators/nobody-here/password", UriKind.Relative), new { password = "a-long-enough-password" }, Cancel))
        {
            await AssertProblemAsync(unknownReset, 404);
        }
    }

    [Fact]
    public async Task The_last_enabled_admin_can_be_neither_demoted_nor_disabled()
    {
        // This class's server has one admin, the bootstrap one; no test here makes another.
        using (var demote = await PatchAsync(Admin, "admin", new { role = "operator" }))
        {
            await AssertProblemAsync(demote, 409);
        }

        using (var disable = await PatchAsync(Admin, "admin", new { disabled = true }))
        {
            await AssertProblemAsync(disable, 409);
        }

        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM app_user WHERE role = 'admin' AND NOT disabled"));
        Assert.Equal("admin", await RoleAsync(Admin));
    }

    [Fact]
    public async Task Two_admins_demoting_or_disabling_each_other_at_once_always_leave_one_enabled_admin()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Two_admins_demoting_or_disabling_each_other_at_once_always_leave_one_enabled_admin));
        await using var server = ServerProcess.Start(database, "last-admin-race");
        await server.WaitUntilReadyAsync();
        using var first = await server.LoginAsync();
        await CreateAsync(first, "race-admin", "admin");
        using var second = await server.LoginAsync("race-admin", PasswordOf("race-admin"));
        var clients = new Dictionary<string, HttpClient> { ["admin"] = first, ["race-admin"] = second };

        // Demotion only: disabling would end the loser's session, and the next round needs both.
        for (var round = 0; round < 10; round++)
        {
            var answers = await Task.WhenAll(
                StatusOfAsync(PatchAsync(first, "race-admin", new { role = "operator" })),
                StatusOfAsync(PatchAsync(second, "admin", new { role = "operator" })));

            Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM app_user WHERE role = 'admin' AND NOT disabled"));
            // One wins; the other was refused as the last admin (409) or, already demoted when it arrived, as a non-admin (403).
            Assert.Single(answers, status => status == HttpStatusCode.OK);
            Assert.Single(answers, status => status is HttpStatusCode.Conflict or HttpStatusCode.Forbidden);

            var survivor = await Sql.ScalarAsync(database, "SELECT count(*) FROM app_user WHERE username = 'admin' AND role = 'admin'") == 1 ? "admin" : "race-admin";
            var demoted = survivor == "admin" ? "race-admin" : "admin";
            await ChangeAsync(clients[survivor], demoted, new { role = "admin" });
        }

        var disabled = await Task.WhenAll(
            StatusOfAsync(PatchAsync(first, "race-admin", new { disabled = true })),
            StatusOfAsync(PatchAsync(second, "admin", new { disabled = true })));
        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM app_user WHERE role = 'admin' AND NOT disabled"));
        Assert.Single(disabled, status => status == HttpStatusCode.OK);
    }

    [Fact]
    public async Task Viewers_and_operators_get_403_on_operator_management()
    {
        using var viewer = await CreateAndLoginAsync(running.Server, Admin, "om-viewer", "viewer");
        using var operatorClient = await CreateAndLoginAsync(running.Server, Admin, "om-operator", "operator");
        foreach (var client in new[] { viewer, operatorClient })
        {
            using (var list = await client.GetAsync(new Uri("/api/operators", UriKind.Relative), Cancel))
            {
                await AssertProblemAsync(list, 403);
            }

            using (var promote = await PatchAsync(client, "om-viewer", new { role = "admin" }))
            {
                await AssertProblemAsync(promote, 403);
            }
        }

        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM app_user WHERE username LIKE 'om-%' AND role = 'admin'"));
    }

    private static async Task<HttpStatusCode> StatusOfAsync(Task<HttpResponseMessage> sending)
    {
        using var response = await sending;
        return response.StatusCode;
    }
}
