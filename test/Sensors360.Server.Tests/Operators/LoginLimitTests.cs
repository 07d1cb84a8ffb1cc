using System.Net;
using System.Net.Http.Json;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Operators;

/// <summary>
/// Logins are limited per account name as well as per address (docs/security.md): ten failures at one name within
/// 15 minutes, from however many addresses, and that name gets 429 from everywhere; other names do not.
/// </summary>
public sealed class LoginLimitTests(RunningServer running) : IClassFixture<RunningServer>
{
    private const int FailuresPerAccount = 10;

    [Fact]
    public async Task Ten_failures_at_one_name_from_two_addresses_lock_that_name_for_a_third_address_but_not_another_name()
    {
        using var first = LoopbackClient.From("127.0.1.1", running.Server.BaseAddress);
        using var second = LoopbackClient.From("127.0.1.2", running.Server.BaseAddress);
        using var third = LoopbackClient.From("127.0.1.3", running.Server.BaseAddress);
        for (var i = 0; i < FailuresPerAccount; i++)
        {
            using var failed = await LoginAsync(i % 2 == 0 ? first : second, "mallory-target", $"guess {i}");
            Assert.Equal(HttpStatusCode.Unauthorized, failed.StatusCode);
        }

        using (var locked = await LoginAsync(third, "mallory-target", "guess 10"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, locked.StatusCode);
            Assert.Equal("application/problem+json", locked.Content.Headers.ContentType?.MediaType);
            Assert.True(locked.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is set");
        }

        // The third address has its own budget, and another name is not locked with this one.
        using (var other = await LoginAsync(third, "someone-else", "guess"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, other.StatusCode);
        }

        // Failed logins are logged with the client's address.
        await running.Server.LoggedAsync("Failed login for mallory-target from 127.0.1.2", "a failed login is logged with its address", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_locked_name_gets_429_even_with_the_right_password()
    {
        // Distinct addresses, so only the account's limit can answer 429.
        var attempts = 0;
        HttpStatusCode status;
        do
        {
            using var client = LoopbackClient.From($"127.0.2.{attempts + 1}", running.Server.BaseAddress);
            using var failed = await LoginAsync(client, "admin", $"not the password {attempts}");
            status = failed.StatusCode;
            attempts++;
        }
        while (status == HttpStatusCode.Unauthorized && attempts <= FailuresPerAccount);

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.Equal(FailuresPerAccount + 1, attempts);
        using var rightful = LoopbackClient.From("127.0.2.100", running.Server.BaseAddress);
        using var refused = await LoginAsync(rightful, "admin", running.Server.AdminPassword);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
    }

    private static Task<HttpResponseMessage> LoginAsync(HttpClient client, string username, string password) =>
        client.PostAsJsonAsync(new Uri("/api/auth/login", UriKind.Relative), new { username, password }, TestContext.Current.CancellationToken);
}
