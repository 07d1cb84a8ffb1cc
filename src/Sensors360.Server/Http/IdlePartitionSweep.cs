using System.Threading.RateLimiting;

namespace Sensors360.Server.Http;

/// <summary>
/// Makes a limiter from <see cref="PartitionedRateLimiter.Create{TResource, TPartitionKey}"/> survive its sweep of idle
/// partitions. It disposes a partition idle for 10 s on its own timer, and a request that looked that partition up just
/// before gets <see cref="ObjectDisposedException"/> (dotnet/runtime#99865; here a rare 500 from the heartbeat route
/// under load). The swept partition has already left the limiter's table, so asking again makes a fresh one. Wrapping
/// the limiter where it is made keeps every call to it covered.
/// </summary>
internal static class IdlePartitionSweep
{
    public static PartitionedRateLimiter<TResource> Tolerate<TResource>(PartitionedRateLimiter<TResource> limiter) =>
        new Tolerant<TResource>(limiter);

    private sealed class Tolerant<TResource>(PartitionedRateLimiter<TResource> inner) : PartitionedRateLimiter<TResource>
    {
        public override RateLimiterStatistics? GetStatistics(TResource resource)
        {
            try
            {
                return inner.GetStatistics(resource);
            }
            catch (ObjectDisposedException)
            {
                return inner.GetStatistics(resource);
            }
        }

        protected override RateLimitLease AttemptAcquireCore(TResource resource, int permitCount)
        {
            try
            {
                return inner.AttemptAcquire(resource, permitCount);
            }
            catch (ObjectDisposedException)
            {
                // Once: a fresh partition is not idle. A limiter that is itself disposed throws again, as it should.
                return inner.AttemptAcquire(resource, permitCount);
            }
        }

        protected override async ValueTask<RateLimitLease> AcquireAsyncCore(TResource resource, int permitCount, CancellationToken cancellationToken)
        {
            try
            {
                return await inner.AcquireAsync(resource, permitCount, cancellationToken);
            }
            catch (ObjectDisposedException)
            {
                return await inner.AcquireAsync(resource, permitCount, cancellationToken);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        protected override async ValueTask DisposeAsyncCore()
        {
            await inner.DisposeAsync();
            await base.DisposeAsyncCore();
        }
    }
}
