using System.Threading.RateLimiting;

namespace Sensors360.Server.Tests.Http;

/// <summary>
/// Fixed-window partitions, the first of which is disposed once it has been looked up and before it leases, as a
/// sweep racing the request does; the next lookup makes a fresh one.
/// </summary>
internal sealed class SweptOnce<TKey>(int permitLimit) : PartitionedRateLimiter<TKey>
    where TKey : notnull
{
    private readonly Dictionary<TKey, RateLimiter> _partitions = [];

    public int Swept { get; private set; }

    public override RateLimiterStatistics? GetStatistics(TKey resource) => Partition(resource).GetStatistics();

    protected override RateLimitLease AttemptAcquireCore(TKey resource, int permitCount) =>
        Partition(resource).AttemptAcquire(permitCount);

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(TKey resource, int permitCount, CancellationToken cancellationToken) =>
        Partition(resource).AcquireAsync(permitCount, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        foreach (var partition in _partitions.Values)
        {
            partition.Dispose();
        }

        base.Dispose(disposing);
    }

    private RateLimiter Partition(TKey resource)
    {
        if (!_partitions.TryGetValue(resource, out var partition))
        {
            partition = new FixedWindowRateLimiter(new FixedWindowRateLimiterOptions
            {
                PermitLimit = permitLimit, Window = TimeSpan.FromMinutes(1), QueueLimit = 0, AutoReplenishment = false,
            });
            _partitions[resource] = partition;
            if (Swept == 0)
            {
                Swept++;
                _partitions.Remove(resource);
                partition.Dispose();
            }
        }

        return partition;
    }
}
