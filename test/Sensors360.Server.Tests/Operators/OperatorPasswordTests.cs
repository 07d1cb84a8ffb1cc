using System.Net;
using System.Net.Http.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Operators.OperatorClient;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Operators;

/// <summary>
/// Passwords against the real server: an operator changes their own (proving the current one), an admin resets
/// someone's; either way the old password stops working and the operator's other sessions end.
/// </summary>
public sealed class OperatorPasswordTests(RunningServer running) : IClassFixture<RunningServer>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Changing_ones_own_password_needs_the_current_one_keeps_this_session_and_ends_the_others()
    {
        await CreateAsync(running.Operator, "own-pw", "viewer");
        using var here = await running.Server.LoginAsync("own-pw", PasswordOf("own-pw"));
        using var elsewhere = await running.Server.LoginAsync("own-pw", PasswordOf("own-pw"));

        using (var wrong = await ChangeOwnAsync(here, "not-the-password", "a-brand-new-password"))
        {
            // 403, not 401: the session is fine, the proof was refused.
            await AssertProblemAsync(wrong, 403);
        }

        using (var weak = await ChangeOwnAsync(here, PasswordOf("own-pw"), "too-short"))
        {
            await AssertProblemAsync(weak, 400);
        }

        using (var asName = await ChangeOwnAsync(here, PasswordOf("own-pw"), "OWN-PW"))
        {
            await AssertProblemAsync(asName, 400);
        }

        Assert.Equal(HttpStatusCode.OK, await MeAsync(elsewhere));
        using (var changed = await ChangeOwnAsync(here, PasswordOf("own-pw"), "a-brand-new-password"))
        {
            Assert.Equal(HttpStatusCode.NoContent, changed.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, await MeAsync(here));
        Assert.Equal(HttpStatusCode.Unauthorized, await MeAsync(elsewhere));
        Assert.Equal(HttpStatusCode.Unauthorized, await TryLoginAsync(running.Server, "own-pw", PasswordOf("own-pw")));
        Assert.Equal(HttpStatusCode.OK, await TryLoginAsync(running.Server, "own-pw", "a-brand-new-password"));
    }

    [Fact]
    public async Task An_admin_reset_ends_every_session_of_that_operator_and_only_the_new_password_works()
    {
        await CreateAsync(running.Operator, "reset-pw", "operator");
        using var first = await running.Server.LoginAsync("reset-pw", PasswordOf("reset-pw"));
        using var second = await running.Server.LoginAsync("reset-pw", PasswordOf("reset-pw"));

        using (var reset = await running.Operator.PostAsJsonAsync(new Uri("/api/operators/reset-pw/password", UriKind.Relative), new { password = "set-by-the-admin" }, Cancel))
        {
            Assert.Equal(HttpStatusCode.NoContent, reset.StatusCode);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, await MeAsync(first));
        Assert.Equal(HttpStatusCode.Unauthorized, await MeAsync(second));
        Assert.Equal(HttpStatusCode.OK, await MeAsync(running.Operator));
        Assert.Equal(HttpStatusCode.Unauthorized, await TryLoginAsync(running.Server, "reset-pw", PasswordOf("reset-pw")));
        Assert.Equal(HttpStatusCode.OK, await TryLoginAsync(running.Server, "reset-pw", "set-by-the-admin"));
    }

    internal static Task<HttpResponseMessage> ChangeOwnAsync(HttpClient client, string current, string @new) =>
        client.PostAsJsonAsync(new Uri("/api/auth/password", UriKind.Relative), new { current, @new }, Cancel);
}
