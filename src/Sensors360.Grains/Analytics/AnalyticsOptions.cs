namespace Sensors360.Grains.Analytics;

/// <summary>Settings under <c>Sensors360:Analytics</c>.</summary>
public sealed class AnalyticsOptions
{
    public const string Section = "Sensors360:Analytics";

    /// <summary>
    /// A sensor silent for longer than this, and not retired, counts as failed at its last heartbeat; a
    /// shorter silence is an outage, not a death (docs/analytics.md).
    /// </summary>
    public TimeSpan PresumedDeadAfter { get; set; } = TimeSpan.FromDays(1);
}
