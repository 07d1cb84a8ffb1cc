namespace Sensors360.Server.Cluster;

/// <summary>
/// Grain calls Orleans rejected before any grain ran them, tried again. A silo that is leaving the cluster rejects the
/// calls its callers still address to it ("Silo stopping") for the moments until they learn it left; the rejection
/// drops the caller's stale address, so a second try reaches the grain's next activation on another silo.
/// Only rejections: a call that may have run (a timeout, a silo that vanished while the call was under way) is not
/// repeated here.
/// </summary>
public static class RejectedCall
{
    private static readonly TimeSpan[] Pauses = [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(400)];

    public static async Task<T> RetryAsync<T>(Func<Task<T>> call, TimeProvider time)
    {
        foreach (var pause in Pauses)
        {
            try
            {
                return await call();
            }
            catch (OrleansMessageRejectionException)
            {
                await Task.Delay(pause, time);
            }
        }

        return await call();
    }
}
