using Sensors360.Grains.Analytics;

namespace Sensors360.Grains.Tests.Analytics;

public sealed class LifespanEdgeCaseTests
{
    private const double Tolerance = 1e-12;

    [Fact]
    public void Empty_fleet_says_nothing()
    {
        var estimate = LifespanEstimate.From([]);

        Assert.Equal((0, 0, 0), (estimate.Sensors, estimate.Failed, estimate.Censored));
        AssertSaysNothing(estimate);
    }

    [Fact]
    public void No_failures_give_no_mean()
    {
        // All alive: the mean is at least 300 s, and nothing bounds it from above.
        var estimate = LifespanEstimate.From([new(100, false), new(200, false), new(300, false)]);

        Assert.Equal((3, 0, 3), (estimate.Sensors, estimate.Failed, estimate.Censored));
        AssertSaysNothing(estimate);
    }

    [Fact]
    public void Single_failure_among_survivors_gives_a_curve_but_no_mean()
    {
        // 100F, 200C, 300C: S(100) = 2/3 with 3 at risk; it never reaches one half; one failure cannot fit a shape.
        var estimate = LifespanEstimate.From([new(300, false), new(100, true), new(200, false)]);

        Assert.Equal((3, 1, 2), (estimate.Sensors, estimate.Failed, estimate.Censored));
        var point = Assert.Single(estimate.Curve);
        Assert.Equal(100, point.AgeSeconds);
        Assert.Equal(2.0 / 3, point.Survival, Tolerance);
        Assert.Equal(3, point.AtRisk);
        Assert.Null(estimate.MedianSeconds);
        Assert.Null(estimate.Weibull);
        Assert.Null(estimate.MeanSeconds);
        Assert.Equal(MeanMethod.None, estimate.MeanMethod);
        Assert.Equal(100.0, estimate.NaiveMeanSeconds);
    }

    [Fact]
    public void Single_sensor_that_failed_is_its_own_mean_without_an_interval()
    {
        var estimate = LifespanEstimate.From([new(500, true)]);

        Assert.Equal(MeanMethod.KaplanMeier, estimate.MeanMethod);
        Assert.Equal(500.0, estimate.MeanSeconds);
        Assert.Null(estimate.MeanCi95);
        Assert.Equal(500.0, estimate.MedianSeconds);
    }

    [Fact]
    public void All_failed_mean_is_the_plain_average()
    {
        // 10, 20, 20, 50, 100 all failed: average 40. S(10) = 4/5, S(20) = 4/5 · 2/4 = 0.4, so the median is 20.
        var estimate = LifespanEstimate.From([new(50, true), new(20, true), new(100, true), new(10, true), new(20, true)]);

        Assert.Equal(MeanMethod.KaplanMeier, estimate.MeanMethod);
        Assert.Equal(40, estimate.MeanSeconds!.Value, Tolerance);
        Assert.Equal(40, estimate.NaiveMeanSeconds!.Value, Tolerance);
        Assert.Equal(20.0, estimate.MedianSeconds);
        Assert.True(estimate.MeanCi95!.Value.Low < 40 && estimate.MeanCi95.Value.High > 40);
        Assert.NotNull(estimate.Weibull);
        Assert.Equal([0.8, 0.4, 0.2, 0], estimate.Curve.Select(p => Math.Round(p.Survival, 12)));
    }

    [Fact]
    public void Zero_length_lifespans_count_as_one_second()
    {
        // 0F, 0C, 10F become 1F, 1C, 10F. t=1: 3 at risk, S = 2/3; the censored one then leaves.
        // t=10: 1 at risk, S = 0. Mean = area = 1·1 + 2/3·9 = 7. Naive: (1 + 10) / 2 = 5.5.
        // S is still 2/3 after the first step, so the median is the second failure age, 10.
        LifespanObservation[] observations = [new(0, true), new(0, false), new(10, true)];
        var estimate = LifespanEstimate.From(observations);

        Assert.Equal(7, KaplanMeierCurve.Estimate(observations).RestrictedMeanSeconds, Tolerance);
        Assert.Equal(5.5, estimate.NaiveMeanSeconds!.Value, Tolerance);
        Assert.Equal([1.0, 10.0], estimate.Curve.Select(p => p.AgeSeconds));
        Assert.Equal([3, 1], estimate.Curve.Select(p => p.AtRisk));
        Assert.Equal(10.0, estimate.MedianSeconds);
    }

    [Fact]
    public void Every_failure_at_one_age_has_no_weibull_fit()
    {
        // Identical failure ages make the likelihood grow without bound in the shape: no fit, but the curve
        // reaches zero and its area is the answer.
        var estimate = LifespanEstimate.From([new(60, true), new(60, true), new(60, true)]);

        Assert.Null(estimate.Weibull);
        Assert.Equal(60, estimate.MeanSeconds!.Value, Tolerance);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Observation_rejects_impossible_durations(double seconds)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LifespanObservation(seconds, true));
    }

    /// <summary>No failure seen: no mean, interval, median, fit, naive mean or curve.</summary>
    private static void AssertSaysNothing(LifespanEstimate estimate)
    {
        Assert.Equal(MeanMethod.None, estimate.MeanMethod);
        Assert.Null(estimate.MeanSeconds);
        Assert.Null(estimate.MeanCi95);
        Assert.Null(estimate.MedianSeconds);
        Assert.Null(estimate.Weibull);
        Assert.Null(estimate.NaiveMeanSeconds);
        Assert.Empty(estimate.Curve);
    }
}
