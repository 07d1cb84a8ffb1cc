namespace Sensors360.Simulator.Load;

/// <summary>
/// A fixed open-loop schedule in <see cref="TimeProvider"/> timestamps: request k is due at
/// start + k / rate, whatever became of the requests before it. Measuring each request's latency from its
/// due time, not from when a busy client finally sent it, keeps a slow server from hiding its slowness
/// (coordinated omission).
/// </summary>
internal readonly record struct RateSchedule(long Start, double RatePerSecond, long TimestampFrequency)
{
    private double TicksPerRequest => TimestampFrequency / RatePerSecond;

    public long DueAt(long index) => Start + (long)(index * TicksPerRequest);

    /// <summary>How many requests are due before <paramref name="timestamp"/>.</summary>
    public long DueBefore(long timestamp) => timestamp <= Start ? 0 : (long)Math.Ceiling((timestamp - Start) / TicksPerRequest);
}
