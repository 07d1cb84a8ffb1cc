using System.Net;
using System.Text;
using Sensors360.Server.Operators;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Operators.OperatorClient;
using static Sensors360.Server.Tests.Operators.OperatorPasswordTests;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Operators;

/// <summary>
/// Own password changes are limited per operator (<see cref="OperatorsApi.PasswordChangesPerWindow"/>), so a stolen
/// session cannot guess the current password quickly. A server of its own: the class's logins share one address's
/// login limit.
/// </summary>
public sealed class OperatorPasswordLimitTests(RunningServer running) : IClassFixture<RunningServer>
{
    [Fact]
    public async Task Own_password_changes_beyond_the_limit_get_429_problem_for_that_operator_only()
    {
        await CreateAsync(running.Operator, "guessed-pw", "viewer");
        await CreateAsync(running.Operator, "bystander-pw", "viewer");
        using var stolen = await running.Server.LoginAsync("guessed-pw", PasswordOf("guessed-pw"));
        using var bystander = await running.Server.LoginAsync("bystander-pw", PasswordOf("bystander-pw"));

        for (var guess = 1; guess <= OperatorsApi.PasswordChangesPerWindow; guess++)
        {
            using var wrong = await ChangeOwnAsync(stolen, $"guess number {guess}", "a-brand-new-password");
            await AssertProblemAsync(wrong, 403);
        }

        // Even the right current password waits now: the limit counts attempts, not failures.
        using (var limited = await ChangeOwnAsync(stolen, PasswordOf("guessed-pw"), "a-brand-new-password"))
        {
            await AssertProblemAsync(limited, 429);
            Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is set");
        }

        using (var other = await ChangeOwnAsync(bystander, PasswordOf("bystander-pw"), "another-new-password"))
        {
            Assert.Equal(HttpStatusCode.NoContent, other.StatusCode);
        }
    }

    [Fact]
    public async Task Bodies_that_do_not_bind_get_400_and_spend_no_permit()
    {
        await CreateAsync(running.Operator, "sloppy-pw", "viewer");
        using var client = await running.Server.LoginAsync("sloppy-pw", PasswordOf("sloppy-pw"));

        // More than the limit allows, in turn an empty body, JSON null and malformed JSON: none reaches the handler.
        string[] unbindable = ["", "null", "{"];
        for (var attempt = 0; attempt <= OperatorsApi.PasswordChangesPerWindow; attempt++)
        {
            using var body = new StringContent(unbindable[attempt % unbindable.Length], Encoding.UTF8, "application/json");
            using var unbound = await client.PostAsync(new Uri("/api/auth/password", UriKind.Relative), body, TestContext.Current.CancellationToken);
            await AssertProblemAsync(unbound, 400);
        }

        using var changed = await ChangeOwnAsync(client, PasswordOf("sloppy-pw"), "a-brand-new-password");
        Assert.Equal(HttpStatusCode.NoContent, changed.StatusCode);
    }
}
