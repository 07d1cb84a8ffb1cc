namespace Sensors360.Abstractions.Analytics;

/// <summary>
/// The live sensors ranked by their chance of failing within the horizon, as
/// <c>GET /api/analytics/at-risk</c> answers it (docs/analytics.md): most at risk first.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record AtRiskReport(long HorizonSeconds, FailureModelSummary Model, DateTimeOffset ScoredAt, int LiveSensors, AtRiskSensor[] Sensors);

/// <summary>
/// What the ranking rests on: the trained model, when it was trained and on how many examples (a live sensor at a
/// past cut-off time), and the area under the ROC curve it and an age-only model reached on a later time slice.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record FailureModelSummary(
    string Kind,
    DateTimeOffset TrainedAt,
    int TrainedOn,
    int TrainingFailures,
    double ValidationAuc,
    double AgeOnlyAuc,
    string[] Features);

/// <summary>One live sensor: its chance of failing within the horizon, its age and what raises its risk most.</summary>
[GenerateSerializer, Immutable]
public sealed record AtRiskSensor(string Id, double FailureProbability, double AgeSeconds, RiskDriver[] Drivers);

/// <summary>
/// A feature that pushes the sensor's risk above the fleet's typical one: its name (docs/analytics.md), the
/// sensor's value of it, and by how much it raised the model's score.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record RiskDriver(string Name, double Value, double Contribution);

/// <summary>Why there is no ranking yet: the fleet's history does not hold enough failures to learn from.</summary>
[GenerateSerializer, Immutable]
public sealed record NoFailureModel(string Reason, DateTimeOffset? NextAttemptAt);
