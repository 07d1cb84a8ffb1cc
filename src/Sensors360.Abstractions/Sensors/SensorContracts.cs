namespace Sensors360.Abstractions.Sensors;

/// <summary>Where a sensor is in its life.</summary>
public enum SensorStatus
{
    /// <summary>Provisioned, no heartbeat yet.</summary>
    Pending,

    /// <summary>Reporting within its silence threshold.</summary>
    Online,

    /// <summary>No heartbeat for longer than its threshold; an alert is open.</summary>
    Silent,

    /// <summary>Taken out of service for good.</summary>
    Retired,

    /// <summary>Paused by an operator or in a maintenance window of one of its tags: it raises no silence alert.</summary>
    Paused,
}

/// <summary>Why a sensor was retired: a failure ends its life as a death; a decommissioning censors it (docs/analytics.md).</summary>
[GenerateSerializer]
public enum RetirementReason
{
    Failed,
    Decommissioned,
}

/// <summary>A retirement: why, and when (null: now). The time may be in the past, never before the last heartbeat.</summary>
[GenerateSerializer, Immutable]
public sealed record SensorRetirement(RetirementReason Reason, DateTimeOffset? At);

/// <summary>What a new sensor is registered with. The token arrives already hashed.</summary>
[GenerateSerializer, Immutable]
public sealed record SensorRegistration(string[] Tags, int? SilenceThresholdSeconds, string TokenHash);

/// <summary>
/// One heartbeat as received: the hash of the presented token, the server's receive time, and optional
/// metrics as JSON.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record HeartbeatReport(string TokenHash, DateTimeOffset ReceivedAt, string? MetricsJson)
{
    /// <summary>
    /// Sent again after the first call's answer was lost (its silo left or failed): if the heartbeat of this receive
    /// time is already stored, the grain says so instead of storing it twice.
    /// </summary>
    [Id(3)]
    public bool Repeated { get; init; }
}

/// <summary>A heartbeat a sensor sends late, from its buffer: when it was taken, and optional metrics as JSON.</summary>
[GenerateSerializer, Immutable]
public sealed record BufferedHeartbeat(DateTimeOffset At, string? MetricsJson);

/// <summary>A sensor as its grain holds it, and as the API reads it from the database.</summary>
[GenerateSerializer, Immutable]
public sealed record SensorSnapshot(
    string Id,
    string[] Tags,
    SensorStatus Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FirstHeartbeatAt,
    DateTimeOffset? LastHeartbeatAt,
    long HeartbeatCount,
    int SilenceThresholdSeconds,
    long? OpenAlertId,
    RetirementReason? RetiredReason = null,
    DateTimeOffset? PausedUntil = null)
{
    /// <summary>
    /// Mean time between consecutive heartbeats: the gaps sum to last − first, so this is exact without
    /// reading a single heartbeat row. Null before the second heartbeat.
    /// </summary>
    public double? MeanIntervalSeconds => HeartbeatCount >= 2 && LastHeartbeatAt is { } last && FirstHeartbeatAt is { } first
        ? (last - first).TotalSeconds / (HeartbeatCount - 1)
        : null;
}

/// <summary>An operator's pause of one sensor: until when (in the future), why (optional), and who paused it.</summary>
[GenerateSerializer, Immutable]
public sealed record SensorPause(DateTimeOffset Until, string? Reason, string? PausedBy);

[GenerateSerializer]
public enum ProvisionResult
{
    Created,
    AlreadyExists,
    Unavailable,
}

[GenerateSerializer]
public enum HeartbeatResult
{
    /// <summary>Committed to the database.</summary>
    Stored,

    /// <summary>Wrong token for a sensor that exists.</summary>
    Unauthorized,

    Retired,

    /// <summary>The database could not take the write; nothing was stored.</summary>
    Unavailable,

    /// <summary>
    /// No sensor has this id. Answered exactly as <see cref="Unauthorized"/> over HTTP, so ids cannot be probed;
    /// told apart only so the server can remember unknown ids without asking the grain again.
    /// </summary>
    UnknownSensor,
}

[GenerateSerializer]
public enum SensorCommandResult
{
    Done,
    NotFound,
    Retired,
    Unavailable,

    /// <summary>A retirement time before the sensor's last heartbeat.</summary>
    BeforeLastHeartbeat,
}
