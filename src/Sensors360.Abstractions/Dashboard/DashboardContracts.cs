using Sensors360.Abstractions.Alerts;

namespace Sensors360.Abstractions.Dashboard;

/// <summary>Sensors by status; paused ones (own pause or maintenance window) are in none of the others.</summary>
[GenerateSerializer, Immutable]
public sealed record SensorCounts(int Total, int Pending, int Online, int Silent, int Retired, int Paused = 0);

/// <summary>
/// The fleet's answers to the operators' questions (docs/api.md, <c>GET /api/fleet</c>).
/// <see cref="SilentPercent"/> is silent ÷ (online + silent) × 100 (paused sensors are in neither); the lifespan is the censoring-aware
/// estimate of a sensor's expected lifespan, with its 95% interval (docs/analytics.md).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record FleetSnapshot(
    SensorCounts Sensors,
    double SilentPercent,
    double? MeanHeartbeatIntervalSeconds,
    double? RecentMeanHeartbeatIntervalSeconds,
    double? MedianHeartbeatIntervalSeconds,
    double? P95HeartbeatIntervalSeconds,
    double? MeanLifespanSeconds,
    double[]? MeanLifespanCi95,
    double HeartbeatsPerSecond,
    int OpenAlerts,
    DateTimeOffset At);

/// <summary>What the dashboard grain pushes to every silo's feed: the fleet and its newest open alerts (newest first).</summary>
[GenerateSerializer, Immutable]
public sealed record DashboardSnapshot(FleetSnapshot Fleet, Alert[] Alerts);

/// <summary>One second of one silo's heartbeats: how many, and the sum and number of intervals since each sensor's previous one.</summary>
[GenerateSerializer, Immutable]
public sealed record HeartbeatTallySecond(long UnixSecond, long Heartbeats, double IntervalSecondsSum, long Intervals);
