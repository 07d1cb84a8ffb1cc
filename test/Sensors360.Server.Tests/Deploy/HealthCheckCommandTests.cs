using Sensors360.Testing;

namespace Sensors360.Server.Tests.Deploy;

/// <summary>
/// <c>Sensors360.Server healthcheck [url]</c>, the container image's HEALTHCHECK (the runtime image has no curl):
/// exit 0 when the server's <c>/readyz</c> answers 200, 1 when it does not answer or is not ready.
/// </summary>
public sealed class HealthCheckCommandTests(RunningServer running) : IClassFixture<RunningServer>
{
    private static readonly TimeSpan Exit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_ready_server_passes_the_health_check()
    {
        Assert.Equal(0, await ProbeAsync(new Uri(running.Server.BaseAddress, "/readyz").ToString()));
    }

    [Fact]
    public async Task A_server_that_does_not_answer_fails_it()
    {
        Assert.Equal(1, await ProbeAsync($"http://127.0.0.1:{FreePort.Next()}/readyz"));
    }

    [Fact]
    public async Task An_answer_other_than_200_fails_it()
    {
        // /api/cluster needs a session: 401, as a silo that is not ready answers 503.
        Assert.Equal(1, await ProbeAsync(new Uri(running.Server.BaseAddress, "/api/cluster").ToString()));
    }

    [Fact]
    public async Task A_target_that_is_not_a_URL_is_a_usage_error()
    {
        Assert.Equal(2, await ProbeAsync("not a url"));
    }

    private static async Task<int> ProbeAsync(string url)
    {
        await using var probe = ServerProcess.Start(connectionString: null, "health-probe", arguments: ["healthcheck", url]);
        return await probe.WaitForExitAsync(Exit);
    }
}
