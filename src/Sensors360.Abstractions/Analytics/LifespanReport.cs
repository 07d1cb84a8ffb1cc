namespace Sensors360.Abstractions.Analytics;

/// <summary>
/// How long sensors live (docs/analytics.md), as <c>GET /api/analytics/lifespan</c> answers it: durations in
/// seconds rounded to 0.1 s, the curve at most 200 points, <see cref="At"/> when it was computed.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record LifespanReport(
    int Sensors,
    int Failed,
    int Censored,
    double? MeanSeconds,
    double[]? MeanCi95,
    string MeanMethod,
    double? MedianSeconds,
    WeibullReport? Weibull,
    double? NaiveMeanSeconds,
    SurvivalStep[] Curve,
    DateTimeOffset At);

/// <summary>The fitted Weibull distribution: S(t) = exp(−(t / scale)^shape).</summary>
[GenerateSerializer, Immutable]
public sealed record WeibullReport(double Shape, double ScaleSeconds);

/// <summary>One step of the Kaplan–Meier curve: the share still alive at this age, and how many were at risk.</summary>
[GenerateSerializer, Immutable]
public sealed record SurvivalStep(double AgeSeconds, double Survival, int AtRisk);
