using System.Net;
using System.Net.Http.Headers;
using Sensors360.Testing;

namespace Sensors360.Cluster.Tests;

/// <summary>deploy/haproxy.cfg in front of real silos: what the balancer passes on, and how it follows a silo's drain.</summary>
public sealed class LoadBalancerTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task Behind_the_balancer_a_silo_keys_its_per_address_limit_on_the_real_client_whatever_it_claims()
    {
        var database = await postgres.CreateDatabaseAsync("balancer addresses");
        await using var cluster = await SiloCluster.StartAsync(database, "balancer-addresses", silos: 1, new Dictionary<string, string?>
        {
            ["Sensors360__Ingest__MaxRefusedHeartbeatsPerMinute"] = "3",
        });
        var balancer = cluster.Balancer.BaseAddress;
        using var first = From("127.0.0.2", balancer);
        using var second = From("127.0.0.3", balancer);

        // Three refusals (an unknown sensor) use up the first client's budget; its fourth is limited.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await RefusedHeartbeatAsync(first, claimedAddress: null));
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, await RefusedHeartbeatAsync(first, claimedAddress: null));
        // A client's own X-Forwarded-For is dropped by the balancer: claiming another address changes nothing.
        Assert.Equal(HttpStatusCode.TooManyRequests, await RefusedHeartbeatAsync(first, claimedAddress: "10.9.8.7"));
        // Another client behind the same balancer has its own budget: the silo sees the client, not the balancer.
        Assert.Equal(HttpStatusCode.Unauthorized, await RefusedHeartbeatAsync(second, claimedAddress: null));

        // The balancer's health check target answers anonymous callers with the status alone.
        using var ready = await second.GetAsync(new Uri("/readyz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("""{"status":"healthy"}""", await ready.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_stopping_silo_is_out_of_the_balancer_before_its_drain_delay_ends_and_no_request_through_it_fails()
    {
        var database = await postgres.CreateDatabaseAsync("balancer drain");
        // The silos' default drain delay (5 s), against the balancer's checks in deploy/haproxy.cfg.
        await using var cluster = await SiloCluster.StartAsync(database, "balancer-drain", silos: 2);
        var balancer = cluster.Balancer.BaseAddress;
        using var admin = await OperatorLogin.LoginAsync(balancer, cluster.AdminPassword, new CookieContainer());
        var sensors = await HeartbeatLoad.ProvisionAsync(admin, "drain-lb-", 100);
        var loadStarted = TimeProvider.System.GetUtcNow();
        await using var load = HeartbeatLoad.Start(balancer, sensors, TimeSpan.FromMilliseconds(500));
        await load.WaitUntilEverySensorAcknowledgedAsync(loadStarted, TimeSpan.FromSeconds(30));

        var stopping = cluster.Silos[0];
        stopping.Terminate();
        await cluster.Balancer.WaitForAsync(LoadBalancer.ServerName(0), "DOWN", TimeSpan.FromSeconds(5));
        Assert.Equal(0, await stopping.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var exitedAt = TimeProvider.System.GetUtcNow();
        await load.WaitUntilEverySensorAcknowledgedAsync(exitedAt, TimeSpan.FromSeconds(30));
        await load.StopAsync();

        var outcomes = load.Outcomes;
        Assert.True(outcomes.All(outcome => outcome.Status == 204), OutcomeSummary.Describe(outcomes));
        Assert.Empty(await load.FindUnstoredAcknowledgementsAsync(database));
    }

    [Fact]
    public async Task When_the_balancer_is_killed_and_started_again_heartbeats_and_sockets_come_back_and_nothing_acknowledged_is_lost()
    {
        var database = await postgres.CreateDatabaseAsync("balancer killed");
        await using var cluster = await SiloCluster.StartAsync(database, "balancer-killed", silos: 2);
        var balancer = cluster.Balancer.BaseAddress;
        var cookies = new CookieContainer();
        using var admin = await OperatorLogin.LoginAsync(balancer, cluster.AdminPassword, cookies);
        var sensors = await HeartbeatLoad.ProvisionAsync(admin, "lb-killed-", 100);
        var loadStarted = TimeProvider.System.GetUtcNow();
        await using var load = HeartbeatLoad.Start(balancer, sensors, TimeSpan.FromMilliseconds(500));
        await using var sockets = DashboardSockets.Open(balancer, cookies, 4);
        await load.WaitUntilEverySensorAcknowledgedAsync(loadStarted, TimeSpan.FromSeconds(30));
        await sockets.WaitForConnectionsAsync(_ => 1, TimeSpan.FromSeconds(30));

        var killedAt = TimeProvider.System.GetUtcNow();
        cluster.Balancer.KillAbruptly();
        // While it is gone nothing reaches the silos: requests find no balancer.
        await Eventually.TrueAsync(
            () => Task.FromResult(load.Outcomes.Count(outcome => outcome.SentAt > killedAt && outcome.Status == 0) >= 100),
            TimeSpan.FromSeconds(10),
            "heartbeats finding no balancer");
        await cluster.Balancer.StartAgainAsync();
        var restartedAt = TimeProvider.System.GetUtcNow();
        await cluster.Balancer.WaitForAsync(LoadBalancer.ServerName(0), "UP", TimeSpan.FromSeconds(30));

        await load.WaitUntilEverySensorAcknowledgedAsync(restartedAt, TimeSpan.FromSeconds(30));
        await sockets.WaitForConnectionsAsync(socket => 2, TimeSpan.FromSeconds(30));
        await load.StopAsync();

        // Every socket broke with the balancer (no close frame could pass) and came back through the new one.
        Assert.Equal(sockets.Count, sockets.Ends.Count(end => end.At >= killedAt));
        Assert.All(sockets.Ends, end => Assert.Null(end.Status));
        Assert.Empty(await load.FindUnstoredAcknowledgementsAsync(database));
    }

    private static async Task<HttpStatusCode> RefusedHeartbeatAsync(HttpClient client, string? claimedAddress)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/sensors/nobody-here/heartbeat", UriKind.Relative));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-token");
        if (claimedAddress is not null)
        {
            request.Headers.Add("X-Forwarded-For", claimedAddress);
        }

        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>A client connecting from another loopback address (127.x.y.z all lead to this machine).</summary>
    private static HttpClient From(string localAddress, Uri baseAddress)
    {
        var handler = BoundSocketsHandler.From(localAddress);
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }
}
