namespace Sensors360.Grains.Sensors;

/// <summary>
/// Lets one warning a period through for a database failure that repeats with the traffic (in an outage, every
/// heartbeat fails the same way): the first of each period is a Warning, the rest go to Debug. Safe to share.
/// </summary>
public sealed class WarningPace(TimeSpan period, TimeProvider time)
{
    /// <summary>The period of the server's paced warnings, which their messages name.</summary>
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(10);

    private readonly long _periodTicks = (long)(period.TotalSeconds * time.TimestampFrequency);
    private long _next = long.MinValue;

    /// <summary>True for the first call of each period, for one caller only.</summary>
    public bool TakeTurn()
    {
        var now = time.GetTimestamp();
        var next = Interlocked.Read(ref _next);
        return now >= next && Interlocked.CompareExchange(ref _next, now + _periodTicks, next) == next;
    }
}
