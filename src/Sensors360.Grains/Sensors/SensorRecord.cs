using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Sensors;

namespace Sensors360.Grains.Sensors;

/// <summary>A sensor as the <c>sensor_status</c> view shows it: its row, its status and its open silence alert.</summary>
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
    RetirementReason? RetiredReason = null)
{
    /// <summary>The sensor as the API and the feed show it; <paramref name="defaultThreshold"/> applies when it has none of its own.</summary>
    public SensorSnapshot ToSnapshot(TimeSpan defaultThreshold) => new(
        Name, Tags, Status, CreatedAt, FirstHeartbeatAt, LastHeartbeatAt, HeartbeatCount,
        SilenceThresholdSeconds ?? (int)defaultThreshold.TotalSeconds, OpenAlert?.Id, RetiredReason);
}
