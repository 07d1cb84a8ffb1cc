using System.Net;
using System.Net.Http.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Operators.OperatorClient;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Operators;

/// <summary>
/// An admin changes an operator's role or disables them while they are logged in: it applies at their next
/// request, without a new login (a class of its own: each login counts against the login rate limit).
/// </summary>
public sealed class OperatorRoleChangeTests(RunningServer running) : IClassFixture<RunningServer>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_role_change_applies_at_the_operators_next_request_without_a_new_login()
    {
        using var user = await CreateAndLoginAsync(running.Server, running.Operator, "rc-user", "viewer");
        using (var refused = await user.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "rc-1" }, Cancel))
        {
            await AssertProblemAsync(refused, 403);
        }

        await ChangeAsync(running.Operator, "rc-user", new { role = "operator" });
        Assert.Equal("operator", await RoleAsync(user));
        using (var allowed = await user.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "rc-1" }, Cancel))
        {
            Assert.Equal(HttpStatusCode.Created, allowed.StatusCode);
        }

        await ChangeAsync(running.Operator, "rc-user", new { role = "viewer" });
        using (var refusedAgain = await user.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = "rc-2" }, Cancel))
        {
            await AssertProblemAsync(refusedAgain, 403);
        }

        Assert.Equal("viewer", await RoleAsync(user));
    }

    [Fact]
    public async Task Disabling_an_operator_ends_their_sessions_at_once_and_refuses_their_login_until_enabled()
    {
        using var user = await CreateAndLoginAsync(running.Server, running.Operator, "dis-user", "operator");
        Assert.Equal(HttpStatusCode.OK, await MeAsync(user));

        await ChangeAsync(running.Operator, "dis-user", new { disabled = true });

        using (var after = await user.GetAsync(new Uri("/api/sensors", UriKind.Relative), Cancel))
        {
            await AssertProblemAsync(after, 401);
        }

        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString,
            "SELECT count(*) FROM operator_session s JOIN app_user u ON u.id = s.user_id WHERE u.username = 'dis-user'"));
        Assert.Equal(HttpStatusCode.Unauthorized, await TryLoginAsync(running.Server, "dis-user", PasswordOf("dis-user")));

        await ChangeAsync(running.Operator, "dis-user", new { disabled = false });
        using var again = await running.Server.LoginAsync("dis-user", PasswordOf("dis-user"));
        Assert.Equal("operator", await RoleAsync(again));
    }
}
