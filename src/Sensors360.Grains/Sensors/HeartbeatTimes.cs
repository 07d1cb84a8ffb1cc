namespace Sensors360.Grains.Sensors;

/// <summary>Heartbeat times as PostgreSQL keeps them.</summary>
public static class HeartbeatTimes
{
    private const long TicksPerMicrosecond = TimeSpan.TicksPerMillisecond / 1000;

    /// <summary>
    /// <paramref name="at"/> in UTC, cut to whole microseconds. <c>timestamptz</c> keeps microseconds, so
    /// times are compared and stored at that precision: two heartbeats a few ticks apart are one key.
    /// </summary>
    public static DateTimeOffset ToStoredPrecision(DateTimeOffset at)
    {
        var utc = at.ToUniversalTime();
        return utc.AddTicks(-(utc.Ticks % TicksPerMicrosecond));
    }

    /// <summary>The smallest step between two stored times of one sensor.</summary>
    public static TimeSpan Resolution => TimeSpan.FromTicks(TicksPerMicrosecond);
}
