using Sensors360.Grains.Analytics;
using Sensors360.Grains.Prediction;

namespace Sensors360.Grains.Tests.Prediction;

/// <summary>Which sensor gives an example at which cut-off, and its label, worked out by hand.</summary>
public sealed class TrainingSetTests
{
    private const double Hour = 3600;
    private const double Day = 86_400;
    private static readonly TimeSpan Horizon = TimeSpan.FromHours(48);
    private static readonly TimeSpan PresumedDeadAfter = TimeSpan.FromHours(6);

    [Fact]
    public void Live_sensors_give_examples_labelled_by_a_failure_within_the_horizon()
    {
        // A fails (its last beat on day 10), B lives on, C is decommissioned on day 5; all beat hourly from day 0.
        var lifelines = new[]
        {
            Life(1, "a", lastDay: 10, failed: true),
            Life(2, "b", lastDay: 20, failed: false),
            Life(3, "c", lastDay: 5, failed: false, retiredDay: 5),
        };
        double[] cutoffs = [2 * Day, 4 * Day, 6 * Day, 8 * Day, 9 * Day, (10 * Day) + (3 * Hour), (10 * Day) + (7 * Hour)];
        var plan = new FailureHorizon(Horizon, cutoffs, ValidationFrom: 100 * Day);
        var set = new TrainingSet(plan, new RiskFeatures([], 3600), PresumedDeadAfter, lifelines, maxExamples: 1_000_000);

        foreach (var life in lifelines)
        {
            set.Add(Hourly(life));
        }

        // A: live until 6 h after its last beat, so at six cut-offs; failed within 48 h of 8d, 9d and 10d+3h.
        // B: live at all seven, never failed. C: retired on day 5, so live at 2d and 4d only.
        Assert.Equal([false, false, false, true, true, true, .. Enumerable.Repeat(false, 7 + 2)], set.Failed);
        Assert.Equal(3, set.Failures);
        Assert.Equal(1, set.SurvivorRate);
        Assert.All(set.Validation, Assert.False);
    }

    [Fact]
    public void Validation_takes_the_later_cut_offs_and_training_stops_a_horizon_before_them()
    {
        var now = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        var plan = FailureHorizon.Plan(Horizon, now, PresumedDeadAfter, TimeSpan.FromDays(30), now.AddDays(-10));

        // Every label is known by now: a cut-off plus the horizon plus the presumed-dead silence is in the past.
        Assert.All(plan.Cutoffs, cutoff => Assert.True(cutoff + Horizon.TotalSeconds + PresumedDeadAfter.TotalSeconds <= FailureHorizon.Seconds(now)));
        Assert.All(plan.Cutoffs.Zip(plan.Cutoffs.Skip(1)), pair => Assert.Equal(12 * Hour, pair.Second - pair.First, 3));
        Assert.InRange(plan.Cutoffs[0], FailureHorizon.Seconds(now.AddDays(-10)), FailureHorizon.Seconds(now.AddDays(-10)) + (12 * Hour));
        var validation = plan.Cutoffs.Where(plan.Validates).ToList();
        var training = plan.Cutoffs.Where(cutoff => !plan.Validates(cutoff) && plan.Uses(cutoff)).ToList();
        Assert.InRange(validation.Count, 3, 5);
        Assert.True(validation.Min() > training.Max() + Horizon.TotalSeconds);
        // The cut-offs between are left out: their labels would reach into the time validation predicts.
        Assert.Equal(plan.Cutoffs.Length - validation.Count - training.Count, plan.Cutoffs.Count(cutoff => !plan.Uses(cutoff)));
    }

    [Fact]
    public void Past_the_cap_survivors_are_sampled_and_every_failure_is_kept()
    {
        var lifelines = Enumerable.Range(1, 200).Select(i => Life(i, $"s{i}", lastDay: i % 10 == 0 ? 15 : 30, failed: i % 10 == 0)).ToList();
        var cutoffs = Enumerable.Range(1, 28).Select(day => day * Day).ToArray();
        var plan = new FailureHorizon(Horizon, cutoffs, ValidationFrom: 100 * Day);
        var set = new TrainingSet(plan, new RiskFeatures([], 3600), PresumedDeadAfter, lifelines, maxExamples: 1_000);

        foreach (var life in lifelines)
        {
            set.Add(Hourly(life));
        }

        // 20 failures, their last beat on day 15: each failed within 48 h of the cut-offs on days 13, 14 and 15.
        Assert.Equal(20 * 3, set.Failures);
        Assert.InRange(set.SurvivorRate, 0.1, 0.25);
        Assert.InRange(set.Features.Count, 700, 1_300);
    }

    private static SensorLifeline Life(long key, string id, int lastDay, bool failed, int? retiredDay = null) =>
        new(key, id, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddDays(lastDay), failed,
            retiredDay is { } day ? DateTimeOffset.UnixEpoch.AddDays(day) : null);

    private static HeartbeatTimeline Hourly(SensorLifeline life)
    {
        var timeline = new HeartbeatTimeline(0);
        timeline.Reset(life.Key);
        for (var at = 0.0; at <= FailureHorizon.Seconds(life.LastHeartbeatAt); at += Hour)
        {
            timeline.Add(at, []);
        }

        return timeline;
    }
}
