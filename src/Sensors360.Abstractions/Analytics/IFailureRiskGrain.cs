namespace Sensors360.Abstractions.Analytics;

/// <summary>
/// The failure model for one horizon (key: the horizon in hours) and the live sensors ranked by it. One activation in
/// the cluster trains it (on activation when it has no model, then periodically) and keeps it as its persistent state,
/// so a restarted cluster serves the last model at once; the ranking is scored again every few minutes.
/// </summary>
public interface IFailureRiskGrain : IGrainWithIntegerKey
{
    /// <summary>The <paramref name="limit"/> sensors most at risk, or why there is no model yet.</summary>
    Task<AtRiskAnswer> GetAtRisk(int limit);

    /// <summary>Trains the model now (joining a training under way) and ranks the sensors with it.</summary>
    /// <remarks>A large history takes minutes, and training yields to ingest, so it may take longer than a call usually may.</remarks>
    [ResponseTimeout("00:30:00")]
    Task<TrainingAnswer> Train();

    /// <summary>Wakes the grain, so its training schedule runs without waiting for a reader.</summary>
    Task Wake();
}

/// <summary>The ranking, or why there is none.</summary>
[GenerateSerializer, Immutable]
public sealed record AtRiskAnswer(AtRiskReport? Report, NoFailureModel? Missing);

/// <summary>The model a training produced, or why it produced none (the previous model, if any, stays).</summary>
[GenerateSerializer, Immutable]
public sealed record TrainingAnswer(FailureModelSummary? Model, NoFailureModel? Missing);
