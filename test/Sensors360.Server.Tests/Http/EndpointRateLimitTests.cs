using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Sensors360.Server.Http;

namespace Sensors360.Server.Tests.Http;

/// <summary>
/// The server's one global rate limiter: each endpoint's <see cref="EndpointRateLimit"/> per its own partitions, and
/// nothing for endpoints without one. The login and password-change tests show the limits through the real server.
/// </summary>
public sealed class EndpointRateLimitTests
{
    private static readonly EndpointRateLimit PerAddress = new("per-address", 3, TimeSpan.FromMinutes(1), http => http.Connection.RemoteIpAddress!.ToString());
    private static readonly EndpointRateLimit AlsoPerAddress = new("also-per-address", 1, TimeSpan.FromMinutes(1), http => http.Connection.RemoteIpAddress!.ToString());

    [Fact]
    public void Each_limited_endpoint_counts_each_partition_apart()
    {
        using var limiter = EndpointRateLimits.Create();
        var first = Request(PerAddress, "192.0.2.1");

        Assert.Equal([true, true, true, false], Enumerable.Range(0, 4).Select(_ => Acquired(limiter, first)));
        // Another address, and the same address at another limited endpoint, have their own permits.
        Assert.True(Acquired(limiter, Request(PerAddress, "192.0.2.2")));
        Assert.True(Acquired(limiter, Request(AlsoPerAddress, "192.0.2.1")));
        Assert.False(Acquired(limiter, Request(AlsoPerAddress, "192.0.2.1")));
    }

    [Fact]
    public void An_endpoint_without_a_limit_and_a_request_without_an_endpoint_are_never_refused()
    {
        using var limiter = EndpointRateLimits.Create();

        Assert.All(Enumerable.Range(0, 1_000), _ => Assert.True(Acquired(limiter, Request(null, "192.0.2.1"))));
        Assert.True(Acquired(limiter, new DefaultHttpContext()));
    }

    private static bool Acquired(PartitionedRateLimiter<HttpContext> limiter, HttpContext request)
    {
        using var lease = limiter.AttemptAcquire(request);
        return lease.IsAcquired;
    }

    private static DefaultHttpContext Request(EndpointRateLimit? limit, string address)
    {
        var request = new DefaultHttpContext();
        request.Connection.RemoteIpAddress = IPAddress.Parse(address);
        request.SetEndpoint(new Endpoint(_ => Task.CompletedTask, limit is null ? EndpointMetadataCollection.Empty : new EndpointMetadataCollection(limit), "test"));
        return request;
    }
}
