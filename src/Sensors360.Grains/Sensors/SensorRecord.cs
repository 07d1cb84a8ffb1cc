namespace Sensors360.Grains.Sensors;

/// <summary>A <c>sensor</c> row with its open silence alert, as a grain loads it when it activates.</summary>
public sealed record SensorRecord(
    long Id,
    string Name,
    string[] Tags,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FirstHeartbeatAt,
    DateTimeOffset? LastHeartbeatAt,
    long HeartbeatCount,
    DateTimeOffset? RetiredAt,
    int? SilenceThresholdSeconds,
    string TokenHash,
    long? OpenAlertId,
    DateTimeOffset? OpenAlertSilentSince = null,
    DateTimeOffset? OpenAlertRaisedAt = null);
