using System.Threading.RateLimiting;

namespace Sensors360.Server.Http;

/// <summary>
/// Leases from a limiter made by <see cref="PartitionedRateLimiter.Create{TResource, TPartitionKey}"/> that survive its
/// sweep of idle partitions. It disposes a partition idle for 10 s on its own timer, and a request that looked that
/// partition up just before gets <see cref="ObjectDisposedException"/> (dotnet/runtime#99865; here a rare 500 from the
/// heartbeat route under load). The swept partition has already left the limiter's table, so asking again makes a
/// fresh one.
/// </summary>
internal static class IdlePartitionSweep
{
    public static RateLimitLease AttemptAcquire<TResource>(PartitionedRateLimiter<TResource> limiter, TResource resource, int permitCount = 1)
    {
        try
        {
            return limiter.AttemptAcquire(resource, permitCount);
        }
        catch (ObjectDisposedException)
        {
            // Once: a fresh partition is not idle. A limiter that is itself disposed throws again, as it should.
            return limiter.AttemptAcquire(resource, permitCount);
        }
    }

    public static async ValueTask<RateLimitLease> AcquireAsync<TResource>(
        PartitionedRateLimiter<TResource> limiter, TResource resource, CancellationToken cancellationToken)
    {
        try
        {
            return await limiter.AcquireAsync(resource, 1, cancellationToken);
        }
        catch (ObjectDisposedException)
        {
            return await limiter.AcquireAsync(resource, 1, cancellationToken);
        }
    }
}
