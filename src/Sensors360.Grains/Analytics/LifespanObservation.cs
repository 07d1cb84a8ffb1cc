namespace Sensors360.Grains.Analytics;

/// <summary>
/// One sensor's life as the fleet saw it: how long it has been observed, from its first heartbeat to its
/// last, and whether that life ended in a failure (an event) or is still going, as far as anyone knows
/// (censored: still alive, or decommissioned before it failed).
/// </summary>
/// <param name="Seconds">From the first heartbeat to the last; 0 for a sensor with a single heartbeat.</param>
/// <param name="Failed">True when the sensor failed at <paramref name="Seconds"/>; false when it is censored there.</param>
public readonly record struct LifespanObservation(double Seconds, bool Failed)
{
    /// <summary>
    /// The shortest duration the estimators work with. A sensor with a single heartbeat has a lifespan of 0,
    /// but it did live for some part of one heartbeat interval, and the Weibull likelihood has no density at 0
    /// for shapes above 1. Such sensors are kept (dropping them would hide sensors that died on arrival) and
    /// counted as living one second, the resolution at which lifespans are reported.
    /// </summary>
    public const double MinimumSeconds = 1;

    /// <summary>From the first heartbeat to the last, in seconds; never negative, never NaN or infinite.</summary>
    public double Seconds { get; } = double.IsFinite(Seconds) && Seconds >= 0
        ? Seconds
        : throw new ArgumentOutOfRangeException(nameof(Seconds), Seconds, "A lifespan is a finite, non-negative number of seconds.");

    /// <summary>The duration the estimators use: <see cref="Seconds"/>, but at least <see cref="MinimumSeconds"/>.</summary>
    public double EffectiveSeconds => Math.Max(Seconds, MinimumSeconds);
}
