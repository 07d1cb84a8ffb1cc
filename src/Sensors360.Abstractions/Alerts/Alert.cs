using Sensors360.Abstractions.Sensors;

namespace Sensors360.Abstractions.Alerts;

/// <summary>
/// An alert on a sensor, in the one shape the API, the grains and the live feed share (docs/api.md).
/// Open while <see cref="ResolvedAt"/> is null; <see cref="AcknowledgedBy"/> is the operator's username.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record Alert(
    long Id,
    string SensorId,
    string Kind,
    DateTimeOffset SilentSince,
    DateTimeOffset RaisedAt,
    DateTimeOffset? ResolvedAt,
    DateTimeOffset? AcknowledgedAt,
    string? AcknowledgedBy)
{
    /// <summary>The kind of alert a sensor's silence raises: no heartbeat for its threshold since its last one.</summary>
    public const string Silent = "silent";

    /// <summary>
    /// The kind of alert a sensor that never reported raises: no heartbeat for its threshold since it was
    /// provisioned (<see cref="SilentSince"/> is provisioning + threshold). Its first heartbeat resolves it.
    /// </summary>
    public const string NeverReported = "never-reported";
}

/// <summary>The outcome of an acknowledgement: <see cref="SensorCommandResult.Done"/> with the alert as it now stands, or why not.</summary>
[GenerateSerializer, Immutable]
public sealed record AlertAcknowledgement(SensorCommandResult Result, Alert? Alert);
