using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Sensors;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// A sensor as the <c>sensor_status</c> view shows it: its row, its status without pauses (the grain's life
/// cycle), its open silence alert, its own pause's end (<see cref="PausedUntil"/>, may be past) and, as the view
/// judged at the time of reading, when the pause then running (own or maintenance) ends (<see cref="ShownPausedUntil"/>).
/// </summary>
public sealed record SensorRecord(
    long Id,
    string Name,
    string[] Tags,
    SensorStatus Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FirstHeartbeatAt,
    DateTimeOffset? LastHeartbeatAt,
    long HeartbeatCount,
    DateTimeOffset? RetiredAt,
    int? SilenceThresholdSeconds,
    string TokenHash,
    Alert? OpenAlert,
    RetirementReason? RetiredReason = null,
    DateTimeOffset? PausedUntil = null,
    DateTimeOffset? ShownPausedUntil = null)
{
    /// <summary>
    /// The sensor as the API and the feed show it; <paramref name="defaultThreshold"/> applies when it has none of
    /// its own; <paramref name="pausedUntil"/> (a pause running now) shows it paused unless it is retired.
    /// </summary>
    public SensorSnapshot ToSnapshot(TimeSpan defaultThreshold, DateTimeOffset? pausedUntil)
    {
        var paused = Status == SensorStatus.Retired ? null : pausedUntil;
        return new(
            Name, Tags, paused is null ? Status : SensorStatus.Paused, CreatedAt, FirstHeartbeatAt, LastHeartbeatAt, HeartbeatCount,
            SilenceThresholdSeconds ?? (int)defaultThreshold.TotalSeconds, OpenAlert?.Id, RetiredReason, paused);
    }
}
