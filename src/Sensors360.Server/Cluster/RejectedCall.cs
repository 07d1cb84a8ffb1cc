namespace Sensors360.Server.Cluster;

/// <summary>
/// Grain calls that Orleans rejected, tried again. A silo leaving the cluster rejects the calls its callers still
/// address to it ("Silo stopping"), and calls under way when it goes fail once its departure is noticed
/// (<see cref="SiloUnavailableException"/>, a kind of rejection), although its grain may have run them; each
/// rejection drops the caller's stale address, so a later try reaches the grain's next activation on another silo.
/// The call is told whether it is a repeat, so the grain can answer for work already done instead of doing it twice.
/// Timeouts are not tried again: the call may still be running.
/// </summary>
public static class RejectedCall
{
    private static readonly TimeSpan[] Pauses = [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(400)];

    /// <summary>
    /// Calls <paramref name="call"/> with <paramref name="state"/> (and false), and after a rejection again (with true,
    /// a repeat), four times at most. The state is passed, not captured, so a static lambda costs no allocation per call.
    /// </summary>
    public static async Task<T> RetryAsync<TState, T>(Func<TState, bool, Task<T>> call, TState state, TimeProvider time)
    {
        var repeated = false;
        foreach (var pause in Pauses)
        {
            try
            {
                return await call(state, repeated);
            }
            catch (OrleansMessageRejectionException)
            {
                repeated = true;
                await Task.Delay(pause, time);
            }
        }

        return await call(state, repeated);
    }
}
