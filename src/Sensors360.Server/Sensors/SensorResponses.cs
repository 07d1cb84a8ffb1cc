using Sensors360.Abstractions.Sensors;

namespace Sensors360.Server.Sensors;

/// <summary>A sensor in API responses (docs/api.md).</summary>
public record SensorResponse(
    string Id,
    string[] Tags,
    string Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FirstHeartbeatAt,
    DateTimeOffset? LastHeartbeatAt,
    long HeartbeatCount,
    double? MeanIntervalSeconds,
    int SilenceThresholdSeconds,
    string? RetiredReason,
    DateTimeOffset? PausedUntil)
{
    public static SensorResponse From(SensorSnapshot sensor) => new(
        sensor.Id, sensor.Tags, sensor.Status.ToString().ToLowerInvariant(), sensor.CreatedAt, sensor.FirstHeartbeatAt,
        sensor.LastHeartbeatAt, sensor.HeartbeatCount, sensor.MeanIntervalSeconds, sensor.SilenceThresholdSeconds,
        sensor.RetiredReason?.ToString().ToLowerInvariant(), sensor.PausedUntil);
}

/// <summary>A newly provisioned sensor with its token: the only time the token is ever shown.</summary>
public sealed record ProvisionedSensorResponse : SensorResponse
{
    public ProvisionedSensorResponse(SensorResponse sensor, string token)
        : base(sensor)
    {
        Token = token;
    }

    public string Token { get; }
}

/// <summary>One page of sensors; pass <c>nextCursor</c> as <c>cursor</c> for the next page (null at the end).</summary>
public sealed record SensorPageResponse(IReadOnlyList<SensorResponse> Items, string? NextCursor);

/// <summary>A sensor's new token after rotation.</summary>
public sealed record SensorTokenResponse(string Id, string Token);

/// <summary>The optional body of <c>POST /api/sensors/{id}/retire</c>: <c>failed</c> (default) or <c>decommissioned</c>, and when (default now).</summary>
public sealed record RetireRequest(string? Reason, string? At);

/// <summary>The body of <c>POST /api/sensors</c>.</summary>
public sealed record ProvisionRequest(string? Id, string[]? Tags, int? SilenceThresholdSeconds);
