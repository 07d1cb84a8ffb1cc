using System.Threading.RateLimiting;
using Sensors360.Server.Http;

namespace Sensors360.Server.Tests.Http;

/// <summary>
/// A partitioned limiter's idle-partition sweep (dotnet/runtime#99865): a request whose partition is disposed under
/// it is asked again, not failed. The sweep runs on the framework's own 10 s timer, so these tests stand in for it
/// with a limiter whose partition is disposed between the lookup and the lease, as the sweep's is.
/// </summary>
public sealed class IdlePartitionSweepTests
{
    [Fact]
    public void A_partition_swept_under_a_request_is_made_afresh_and_the_request_counted()
    {
        var swept = new SweptOnce<string>(permitLimit: 2);
        using var limiter = IdlePartitionSweep.Tolerate(swept);

        using (var first = limiter.AttemptAcquire("sensor-1"))
        {
            Assert.True(first.IsAcquired);
        }

        Assert.Equal(1, swept.Swept);
        // The fresh partition counts from where the request left it: one more permit, then none.
        Assert.True(limiter.AttemptAcquire("sensor-1").IsAcquired);
        Assert.False(limiter.AttemptAcquire("sensor-1").IsAcquired);
    }

    [Fact]
    public async Task A_wait_whose_partition_is_swept_is_made_afresh()
    {
        var swept = new SweptOnce<string>(permitLimit: 1);
        using var limiter = IdlePartitionSweep.Tolerate(swept);

        using var lease = await limiter.AcquireAsync("operator", 1, CancellationToken.None);

        Assert.True(lease.IsAcquired);
        Assert.Equal(1, swept.Swept);
    }

    [Fact]
    public void A_limiter_that_is_itself_disposed_still_throws()
    {
        var limiter = IdlePartitionSweep.Tolerate(PartitionedRateLimiter.Create<string, string>(key =>
            RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions { PermitLimit = 1, Window = TimeSpan.FromMinutes(1) })));
        limiter.Dispose();

        Assert.Throws<ObjectDisposedException>(() => limiter.AttemptAcquire("sensor-1"));
    }
}
