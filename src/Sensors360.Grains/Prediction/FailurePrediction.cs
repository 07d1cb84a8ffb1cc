using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Sensors360.Abstractions.Analytics;
using Sensors360.Grains.Analytics;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Prediction;

/// <summary>
/// Trains failure models on the fleet's history and ranks the live sensors with one (docs/analytics.md). Both read
/// the database through one connection and compute on one <see cref="LowPriorityThread"/>, so they run beside ingest
/// on what CPU it leaves.
/// </summary>
public sealed class FailurePrediction(
    LifespanStore lives,
    HeartbeatTimelineStore heartbeats,
    IOptions<AnalyticsOptions> options,
    [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock)
{
    /// <summary>Fewer failures than this in the training slice (or a tenth of it in the validation slice) teach nothing reliable.</summary>
    public const int MinimumFailures = 20;

    /// <summary>Trends of at most this many metrics are features.</summary>
    private const int MaxMetrics = 3;

    /// <summary>A model is used with the features it was trained on; a fleet that has never reported has no interval yet.</summary>
    private const double DefaultInterval = 60;

    /// <summary>Trains a model for <paramref name="horizon"/>, or says why the history does not allow one yet.</summary>
    public async Task<TrainedFailureModel> TrainAsync(TimeSpan horizon, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var settings = options.Value;
        var lifelines = await lives.ReadLifelinesAsync(cancellationToken);
        if (lifelines.Count == 0)
        {
            return TrainedFailureModel.Missing("No sensor has reported yet.");
        }

        var plan = FailureHorizon.Plan(horizon, now, settings.PresumedDeadAfter, settings.TrainOver, lifelines.Min(life => life.FirstHeartbeatAt));
        if (plan.Cutoffs.Length == 0)
        {
            return TrainedFailureModel.Missing(
                $"The history is shorter than the horizon plus the presumed-dead silence ({Describe(horizon + settings.PresumedDeadAfter)}).");
        }

        var metrics = await heartbeats.ChooseMetricsAsync(now - settings.TrainOver, MaxMetrics, cancellationToken);
        var fleetInterval = await heartbeats.FleetMedianIntervalAsync(cancellationToken) ?? DefaultInterval;
        var features = new RiskFeatures(metrics, fleetInterval);
        var from = DateTimeOffset.UnixEpoch.AddSeconds(plan.Cutoffs[0]) - RiskFeatures.Lookback;
        var to = DateTimeOffset.UnixEpoch.AddSeconds(plan.Cutoffs[^1]);
        return await LowPriorityThread.RunAsync("failure-model-training", () =>
        {
            var set = new TrainingSet(plan, features, settings.PresumedDeadAfter, lifelines, settings.MaxTrainingExamples);
            heartbeats.Read(from, to, metrics, set.Add, cancellationToken);

            var trainingFailures = Enumerable.Range(0, set.Failed.Count).Count(i => set.Failed[i] && !set.Validation[i]);
            var validationFailures = set.Failures - trainingFailures;
            var validationSurvivors = set.Validation.Count(validation => validation) - validationFailures;
            if (trainingFailures < MinimumFailures || validationFailures < MinimumFailures / 10 || validationSurvivors < MinimumFailures / 10)
            {
                return TrainedFailureModel.Missing(string.Create(CultureInfo.InvariantCulture,
                    $"The history holds {trainingFailures} failures within {Describe(horizon)} of a training cut-off and {validationFailures} in the later validation slice; training needs at least {MinimumFailures} and {MinimumFailures / 10}."));
            }

            var trained = FailureModel.Train(set, features.Count, seed: 360, cancellationToken);
            var summary = new FailureModelSummary(
                FailureModel.Kind,
                clock.GetUtcNow(),
                set.Features.Count,
                set.Failures,
                Math.Round(trained.ValidationAuc, 4),
                Math.Round(trained.AgeOnlyAuc, 4),
                features.Names);
            return new TrainedFailureModel(trained.Model, summary, metrics, fleetInterval, null);
        });
    }

    /// <summary>Every live sensor with its chance of failing within the model's horizon, most at risk first.</summary>
    public async Task<AtRiskRanking> RankAsync(FailureModel model, string[] metrics, double fleetInterval, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var presumedDeadAfter = options.Value.PresumedDeadAfter;
        var live = (await lives.ReadLifelinesAsync(cancellationToken))
            .Where(life => life.LiveAt(now, life.LastHeartbeatAt, presumedDeadAfter))
            .ToDictionary(life => life.Key);
        var features = new RiskFeatures(metrics, fleetInterval);
        var at = FailureHorizon.Seconds(now);
        return await LowPriorityThread.RunAsync("failure-risk-ranking", () =>
        {
            var sensors = new List<SensorLifeline>(live.Count);
            var rows = new List<float[]>(live.Count);
            heartbeats.Read(now - RiskFeatures.Lookback, now, metrics, timeline =>
            {
                var row = new float[features.Count];
                if (live.TryGetValue(timeline.SensorKey, out var life) && features.Compute(timeline, FailureHorizon.Seconds(life.FirstHeartbeatAt), at, row))
                {
                    sensors.Add(life);
                    rows.Add(row);
                }
            }, cancellationToken);

            var scores = model.Score(rows);
            var ranked = new AtRiskSensor[rows.Count];
            for (var i = 0; i < rows.Count; i++)
            {
                var (probability, contributions) = scores[i];
                ranked[i] = new AtRiskSensor(
                    sensors[i].Id,
                    Math.Round(probability, 6),
                    Math.Round((now - sensors[i].FirstHeartbeatAt).TotalSeconds, 1),
                    Drivers(features.Names, rows[i], contributions));
            }

            Array.Sort(ranked, static (a, b) => b.FailureProbability.CompareTo(a.FailureProbability) is var order && order != 0
                ? order
                : string.CompareOrdinal(a.Id, b.Id));
            return new AtRiskRanking(now, live.Count, ranked);
        });
    }

    /// <summary>The features that raised the score most, largest first, with the sensor's value of each.</summary>
    private static RiskDriver[] Drivers(string[] names, float[] values, float[] contributions) =>
        [.. Enumerable.Range(0, names.Length)
            .Where(i => contributions[i] > 0)
            .OrderByDescending(i => contributions[i])
            .Take(FailureModel.Drivers)
            .Select(i => new RiskDriver(names[i], Math.Round(values[i], 4), Math.Round(contributions[i], 4)))];

    private static string Describe(TimeSpan span) => span.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{span.TotalHours:0.#} h")
        : string.Create(CultureInfo.InvariantCulture, $"{span.TotalMinutes:0.#} min");
}

/// <summary>A trained model with what it needs to be used again (its metrics and the fleet interval), or why there is none.</summary>
public sealed record TrainedFailureModel(FailureModel? Model, FailureModelSummary? Summary, string[] Metrics, double FleetInterval, string? Reason)
{
    public static TrainedFailureModel Missing(string reason) => new(null, null, [], 0, reason);
}

/// <summary>The live sensors ranked at <see cref="At"/>; <see cref="Live"/> counts the live ones, including any without recent heartbeats to score.</summary>
public sealed record AtRiskRanking(DateTimeOffset At, int Live, AtRiskSensor[] Sensors);
