using Sensors360.Grains.Analytics;

namespace Sensors360.Grains.Prediction;

/// <summary>
/// The examples a failure model learns and is validated from: every sensor live at a cut-off of the
/// <see cref="FailureHorizon"/> gives one, its features at that cut-off and whether it failed within the horizon
/// after it. When there would be more than the cap, survivors are sampled (deterministically) and every failure kept.
/// </summary>
public sealed class TrainingSet
{
    private readonly FailureHorizon _horizon;
    private readonly RiskFeatures _features;
    private readonly TimeSpan _presumedDeadAfter;
    private readonly Dictionary<long, SensorLifeline> _lifelines;

    public TrainingSet(FailureHorizon horizon, RiskFeatures features, TimeSpan presumedDeadAfter, IReadOnlyList<SensorLifeline> lifelines, int maxExamples)
    {
        _horizon = horizon;
        _features = features;
        _presumedDeadAfter = presumedDeadAfter;
        _lifelines = lifelines.ToDictionary(life => life.Key);
        SurvivorRate = SampleRate(lifelines, maxExamples);
    }

    public List<float[]> Features { get; } = [];

    public List<bool> Failed { get; } = [];

    public List<bool> Validation { get; } = [];

    /// <summary>The share of survivor examples kept; failures are always kept.</summary>
    public double SurvivorRate { get; }

    public int Failures => Failed.Count(failed => failed);

    /// <summary>Adds the examples of the sensor of <paramref name="timeline"/> (a <see cref="HeartbeatTimelineStore"/> visitor).</summary>
    public void Add(HeartbeatTimeline timeline)
    {
        if (!_lifelines.TryGetValue(timeline.SensorKey, out var life))
        {
            return;
        }

        var first = FailureHorizon.Seconds(life.FirstHeartbeatAt);
        for (var c = 0; c < _horizon.Cutoffs.Length; c++)
        {
            var cutoff = _horizon.Cutoffs[c];
            var count = timeline.CountUntil(cutoff);
            if (cutoff < first || count == 0 || !_horizon.Uses(cutoff))
            {
                continue;
            }

            var at = DateTimeOffset.UnixEpoch.AddSeconds(cutoff);
            var lastBy = DateTimeOffset.UnixEpoch.AddSeconds(timeline.Times[count - 1]);
            if (!life.LiveAt(at, lastBy, _presumedDeadAfter))
            {
                continue;
            }

            var failed = life.FailedBy(at + _horizon.Horizon);
            if (!failed && SurvivorRate < 1 && Uniform(timeline.SensorKey, c) >= SurvivorRate)
            {
                continue;
            }

            var features = new float[_features.Count];
            _features.Compute(timeline, first, cutoff, features);
            Features.Add(features);
            Failed.Add(failed);
            Validation.Add(_horizon.Validates(cutoff));
        }
    }

    /// <summary>The share of survivors to keep so that, by a count from the lifelines alone, about <paramref name="maxExamples"/> remain.</summary>
    private double SampleRate(IReadOnlyList<SensorLifeline> lifelines, int maxExamples)
    {
        if (_horizon.Cutoffs.Length == 0)
        {
            return 1;
        }

        var step = _horizon.Cutoffs.Length > 1 ? _horizon.Cutoffs[1] - _horizon.Cutoffs[0] : 1;
        var (firstCutoff, lastCutoff) = (_horizon.Cutoffs[0], _horizon.Cutoffs[^1]);
        double candidates = 0, failures = 0;
        foreach (var life in lifelines)
        {
            var from = Math.Max(firstCutoff, FailureHorizon.Seconds(life.FirstHeartbeatAt));
            var to = Math.Min(lastCutoff, FailureHorizon.Seconds(life.RetiredAt is { } retired && retired < life.LastHeartbeatAt + _presumedDeadAfter
                ? retired
                : life.LastHeartbeatAt + _presumedDeadAfter));
            candidates += Math.Max(0, to - from) / step;
            if (life.Failed)
            {
                // A failure is an example with its label at the cut-offs from a horizon before its last heartbeat
                // until it is presumed dead, but only those within the cut-offs count.
                var last = FailureHorizon.Seconds(life.LastHeartbeatAt);
                var labelled = Math.Min(lastCutoff, last + _presumedDeadAfter.TotalSeconds) - Math.Max(firstCutoff, last - _horizon.HorizonSeconds);
                failures += Math.Max(0, labelled) / step;
            }
        }

        var survivors = candidates - failures;
        return survivors <= 0 || candidates <= maxExamples ? 1 : Math.Clamp((maxExamples - failures) / survivors, 0.01, 1);
    }

    /// <summary>A uniform draw in [0, 1) fixed by the sensor and the cut-off (SplitMix64), so a sample is the same on every run.</summary>
    private static double Uniform(long sensor, int cutoff)
    {
        var x = unchecked((ulong)sensor * 0x9E3779B97F4A7C15UL + (ulong)cutoff);
        x = unchecked((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL);
        x = unchecked((x ^ (x >> 27)) * 0x94D049BB133111EBUL);
        x ^= x >> 31;
        return (x >> 11) * (1.0 / (1UL << 53));
    }
}
