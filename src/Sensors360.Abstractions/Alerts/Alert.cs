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
    /// <summary>The kind of alert a sensor's silence raises (the only kind so far).</summary>
    public const string Silent = "silent";
}
