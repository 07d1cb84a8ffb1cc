using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Identity;
using Sensors360.Server.Operators;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Analytics;

/// <summary>
/// <c>GET /api/analytics/at-risk</c> and <c>POST /api/analytics/at-risk/train</c> at their edges: who may call them,
/// what is refused, and the answer while the history holds too few failures to learn from. The ranking itself is
/// judged against simulated futures in the simulator's end-to-end tests.
/// </summary>
public sealed class AtRiskApiTests(RunningServer running) : IClassFixture<RunningServer>
{
    [Theory]
    [InlineData("horizonHours=24")]
    [InlineData("horizonHours=week")]
    [InlineData("horizonHours=-168")]
    [InlineData("limit=0")]
    [InlineData("limit=10001")]
    [InlineData("limit=ten")]
    public async Task A_horizon_not_configured_or_a_bad_limit_is_a_400(string query)
    {
        using var response = await running.Operator.GetAsync(new Uri($"/api/analytics/at-risk?{query}", UriKind.Relative), TestContext.Current.CancellationToken);

        await AssertProblemAsync(response, 400);
    }

    [Fact]
    public async Task Without_enough_failures_the_ranking_is_a_503_that_says_why_and_when_to_come_back()
    {
        // The fixture's fleet has a handful of sensors and a few minutes of history.
        using var response = await running.Operator.GetAsync(new Uri("/api/analytics/at-risk?horizonHours=168&limit=10000", UriKind.Relative), TestContext.Current.CancellationToken);

        await AssertProblemAsync(response, 503);
        Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromMinutes(1), response.Headers.RetryAfter?.ToString());
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task Anyone_logged_in_reads_the_ranking_and_only_an_admin_trains()
    {
        using (var anonymous = await running.Server.Http.GetAsync(new Uri("/api/analytics/at-risk", UriKind.Relative), TestContext.Current.CancellationToken))
        {
            await AssertProblemAsync(anonymous, 401);
        }

        const string password = "risk-viewer-password";
        var hash = new PasswordHasher<OperatorAccount>().HashPassword(new OperatorAccount(0, "risk-viewer", "", OperatorRoles.Viewer), password);
        await Sql.ScalarAsync(running.ConnectionString, "INSERT INTO app_user (username, password_hash, role) VALUES ('risk-viewer', $1, 'viewer')", hash);
        using var viewer = await running.Server.LoginAsync("risk-viewer", password);
        using (var read = await viewer.GetAsync(new Uri("/api/analytics/at-risk", UriKind.Relative), TestContext.Current.CancellationToken))
        {
            // Readable: the answer is the no-model 503, not a refusal.
            await AssertProblemAsync(read, 503);
        }

        using (var forbidden = await viewer.PostAsync(new Uri("/api/analytics/at-risk/train", UriKind.Relative), null, TestContext.Current.CancellationToken))
        {
            await AssertProblemAsync(forbidden, 403);
        }

        using var trained = await running.Operator.PostAsync(new Uri("/api/analytics/at-risk/train?horizonHours=168", UriKind.Relative), null, TestContext.Current.CancellationToken);
        await AssertProblemAsync(trained, 503);
        var problem = await trained.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
    }
}
