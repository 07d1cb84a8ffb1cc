namespace Sensors360.Grains.Sensors;

/// <summary>
/// Lets one warning a period through for a database failure that repeats with the traffic (in an outage, every
/// heartbeat fails the same way): the first of each period is a Warning, the rest go to Debug. Safe to share.
/// </summary>
public sealed class WarningPace(TimeSpan period, TimeProvider time)
{
    /// <summary>The period of the server's paced warnings, which their messages name.</summary>
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(10);

    // At most a day, so a timestamp plus the period cannot overflow.
    private readonly long _periodTicks = period > TimeSpan.Zero && period <= TimeSpan.FromDays(1)
        ? (long)((Int128)period.Ticks * time.TimestampFrequency / TimeSpan.TicksPerSecond)
        : throw new ArgumentOutOfRangeException(nameof(period), period, "A warning pace's period is more than zero and at most a day.");
    private long _next = long.MinValue;

    /// <summary>True for the first call of each period, for one caller only.</summary>
    public bool TakeTurn()
    {
        var now = time.GetTimestamp();
        var next = Interlocked.Read(ref _next);
        return now >= next && Interlocked.CompareExchange(ref _next, now + _periodTicks, next) == next;
    }
}
