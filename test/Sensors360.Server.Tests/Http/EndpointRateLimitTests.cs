using System.Net;
using Microsoft.AspNetCore.Http;
using Sensors360.Server.Http;

namespace Sensors360.Server.Tests.Http;

/// <summary>
/// The endpoints' own rate limits (<see cref="EndpointRateLimiters"/>): each limit per its own partitions, and a
/// partition swept under a request asked again. The login and password-change tests show the limits through the real
/// server, and every other endpoint's tests that they have none.
/// </summary>
public sealed class EndpointRateLimitTests
{
    private static readonly EndpointRateLimit PerAddress = new("per-address", 3, TimeSpan.FromMinutes(1), http => http.Connection.RemoteIpAddress!.ToString());
    private static readonly EndpointRateLimit AlsoPerAddress = new("also-per-address", 1, TimeSpan.FromMinutes(1), http => http.Connection.RemoteIpAddress!.ToString());

    [Fact]
    public void Each_limit_counts_each_partition_apart()
    {
        using var limiters = new EndpointRateLimiters();
        var first = Request("192.0.2.1");

        Assert.Equal([true, true, true, false], Enumerable.Range(0, 4).Select(_ => Acquired(limiters, PerAddress, first)));
        // Another address, and the same address under another limit, have their own permits.
        Assert.True(Acquired(limiters, PerAddress, Request("192.0.2.2")));
        Assert.True(Acquired(limiters, AlsoPerAddress, first));
        Assert.False(Acquired(limiters, AlsoPerAddress, first));
    }

    [Fact]
    public void A_partition_swept_under_a_request_is_asked_again_not_failed()
    {
        // The stand-in's partitions allow one permit each (it does not read the limit's three).
        var swept = new SweptOnce<(EndpointRateLimit, string)>(permitLimit: 1);
        using var limiters = new EndpointRateLimiters(swept);

        Assert.True(Acquired(limiters, PerAddress, Request("192.0.2.1")));
        Assert.Equal(1, swept.Swept);
        Assert.False(Acquired(limiters, PerAddress, Request("192.0.2.1")));
    }

    private static bool Acquired(EndpointRateLimiters limiters, EndpointRateLimit limit, HttpContext request)
    {
        using var lease = limiters.Acquire(limit, request);
        return lease.IsAcquired;
    }

    private static DefaultHttpContext Request(string address)
    {
        var request = new DefaultHttpContext();
        request.Connection.RemoteIpAddress = IPAddress.Parse(address);
        return request;
    }
}
