using Sensors360.Grains.Prediction;

namespace Sensors360.Grains.Tests.Prediction;

/// <summary>The features of hand-built timelines, each value worked out by hand in the comments.</summary>
public sealed class RiskFeaturesTests
{
    private const double Hour = 3600;
    private const double Day = 86_400;

    [Fact]
    public void A_sensor_that_falls_behind_in_its_last_day_shows_it_against_its_own_hourly_baseline()
    {
        // Hourly from day 0 to day 29; then only at 29d+2h, +6h and +12h. Battery 5.0 before day 2, alternating
        // 0.9 / 1.1 over the baseline (2d, 23d], 1.0 until day 29, 0.7 in the last day. Looked at on day 30.
        var timeline = new HeartbeatTimeline(1);
        for (var hour = 0; hour <= 29 * 24; hour++)
        {
            var at = hour * Hour;
            var battery = at <= 2 * Day ? 5f : at <= 23 * Day ? (hour % 2 == 0 ? 0.9f : 1.1f) : 1f;
            timeline.Add(at, [battery]);
        }

        foreach (var hours in new[] { 2, 6, 12 })
        {
            timeline.Add((29 * Day) + (hours * Hour), [0.7f]);
        }

        var features = Compute(new RiskFeatures(["battery"], fleetIntervalSeconds: 999), timeline, first: 0, at: 30 * Day);

        Assert.Equal(30, features[RiskFeatures.Age], 4);
        // Twelve hours since the last beat, against the baseline's median interval of one hour.
        Assert.Equal(12, features[RiskFeatures.Silence], 4);
        // Last day: 24 expected, 3 came. Last week: 168 expected, 6 × 24 hourly + 3 came.
        Assert.Equal(1 - (3 / 24.0), features[RiskFeatures.MissedShare1d], 4);
        Assert.Equal(1 - (147 / 168.0), features[RiskFeatures.MissedShare7d], 4);
        // Last day's intervals: 2 h (from the 29d beat), 4 h, 6 h and the open 12 h: a mean of 6 h.
        Assert.Equal(6, features[RiskFeatures.IntervalDrift1d], 4);
        // Last week: 144 hourly intervals, those four, 168 h over 148 intervals; four of them late, the longest 12 h.
        Assert.Equal(168 / 148.0, features[RiskFeatures.IntervalDrift7d], 4);
        Assert.Equal(4 / 148.0, features[RiskFeatures.LateShare7d], 4);
        Assert.Equal(12, features[RiskFeatures.LongestGap7d], 4);
        // Battery: last day's mean 0.7 against the baseline's 1.0 ± 0.1 (the 5.0 before day 2 is outside it).
        Assert.Equal(-3, features[8], 2);
    }

    [Fact]
    public void Nothing_after_the_moment_changes_its_features()
    {
        var random = new Random(7);
        var full = new HeartbeatTimeline(1);
        var cut = new HeartbeatTimeline(1);
        var at = 0.0;
        const double moment = 20 * Day;
        while (at < 40 * Day)
        {
            float[] value = [(float)random.NextDouble()];
            full.Add(at, value);
            if (at <= moment)
            {
                cut.Add(at, value);
            }

            at += Hour * (0.5 + random.NextDouble() * (at > moment ? 5 : 1));
        }

        var features = new RiskFeatures(["m"], 600);
        Assert.Equal(Compute(features, cut, 0, moment), Compute(features, full, 0, moment));
    }

    [Fact]
    public void A_sensor_with_too_few_intervals_is_measured_against_the_fleet_interval()
    {
        // Beats at 0, 10 and 20 minutes (two intervals), looked at 30 minutes in; the fleet beats every 5 minutes.
        var timeline = new HeartbeatTimeline(0);
        foreach (var minutes in new[] { 0, 10, 20 })
        {
            timeline.Add(minutes * 60, []);
        }

        var features = Compute(new RiskFeatures([], fleetIntervalSeconds: 300), timeline, first: 0, at: 30 * 60);

        Assert.Equal(2, features[RiskFeatures.Silence], 4);
        // Half an hour of life: 6 beats expected after the first, 2 came.
        Assert.Equal(1 - (2 / 6.0), features[RiskFeatures.MissedShare1d], 4);
        // Intervals 10, 10 and the open 10 minutes: twice the fleet's.
        Assert.Equal(2, features[RiskFeatures.IntervalDrift1d], 4);
    }

    [Fact]
    public void A_sensor_without_a_heartbeat_by_then_has_no_features()
    {
        var timeline = new HeartbeatTimeline(0);
        timeline.Add(1000, []);

        Assert.False(new RiskFeatures([], 60).Compute(timeline, 1000, 999, new float[8]));
    }

    private static float[] Compute(RiskFeatures features, HeartbeatTimeline timeline, double first, double at)
    {
        var values = new float[features.Count];
        Assert.True(features.Compute(timeline, first, at, values));
        return values;
    }
}
