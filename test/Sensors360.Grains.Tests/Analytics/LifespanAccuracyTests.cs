using Sensors360.Grains.Analytics;

namespace Sensors360.Grains.Tests.Analytics;

/// <summary>
/// The estimate against a known truth: simulated fleets of which about half are still alive at the cut-off.
/// </summary>
public sealed class LifespanAccuracyTests(ITestOutputHelper output)
{
    private const double Day = 86_400;
    private const double Scale = 1000 * Day;

    // Windows chosen so that about half the fleet is alive at the cut-off: for installs spread evenly over a
    // window W, the share alive is (1/W)·∫₀ᵂ S(a) da, which is one half at W ≈ 1.49λ (k = 0.8), 1.71λ (k = 1.5)
    // and 1.79λ (k = 3); the decommissioned sensors add a few censorings on top.
    // The naive mean (failed sensors only) is held to being far below the truth. How far depends on the
    // spread of lifespans: with k = 3 they are concentrated around the mean (coefficient of variation 0.36),
    // so even the failures seen so far are not much shorter, and the bound is only that it falls outside the
    // ±10% the estimate must meet.
    [Theory]
    [InlineData(0.8, 1500, 0.75)]
    [InlineData(1.5, 1700, 0.75)]
    [InlineData(3.0, 1800, 0.90)]
    public void Mean_is_within_ten_percent_of_the_truth_while_half_the_fleet_is_alive(double shape, double windowDays, double naiveAtMost)
    {
        var fleet = SimulatedFleet.Draw(seed: 360, sensors: 4000, shape, Scale, windowDays * Day, decommissionedShare: 0.05);
        Assert.InRange(fleet.CensoredShare, 0.4, 0.6);

        var estimate = LifespanEstimate.From(fleet.Observations);

        var truth = fleet.TrueMeanSeconds;
        output.WriteLine(
            $"k={shape}: {estimate.MeanMethod}, censored {fleet.CensoredShare:P1}, truth {truth / Day:F1} d, estimate {estimate.MeanSeconds / Day:F1} d " +
            $"[{estimate.MeanCi95?.Low / Day:F1}, {estimate.MeanCi95?.High / Day:F1}], naive {estimate.NaiveMeanSeconds / Day:F1} d, " +
            $"Weibull shape {estimate.Weibull?.Shape:F3}, scale {estimate.Weibull?.ScaleSeconds / Day:F1} d, mean {estimate.Weibull?.MeanSeconds / Day:F1} d");

        // Which mean is used depends on whether the oldest sensor failed: with k = 3 the oldest cohort has
        // almost surely died out by the cut-off and the curve reaches zero; with k = 0.8 a quarter of it lives on.
        Assert.Equal(estimate.MeanMethod == MeanMethod.KaplanMeier, estimate.Curve[^1].Survival == 0);
        Assert.InRange(estimate.MeanSeconds!.Value, 0.9 * truth, 1.1 * truth);
        Assert.True(estimate.MeanCi95!.Value.Contains(truth), $"The 95% interval misses the true mean {truth}.");
        // The Weibull fit on its own, whichever mean the estimate reports.
        var weibull = estimate.Weibull!;
        Assert.InRange(weibull.Shape, 0.9 * shape, 1.1 * shape);
        Assert.InRange(weibull.ScaleSeconds, 0.9 * Scale, 1.1 * Scale);
        Assert.InRange(weibull.MeanSeconds, 0.9 * truth, 1.1 * truth);
        Assert.True(weibull.MeanCi95!.Value.Contains(truth), $"The Weibull fit's 95% interval misses the true mean {truth}.");
        // The old figure, the mean over failed sensors only, is far too low: the long lives are the ones not yet over.
        Assert.True(estimate.NaiveMeanSeconds < naiveAtMost * truth, $"The naive mean {estimate.NaiveMeanSeconds} is not far below {truth}.");
        Assert.True(Math.Abs(estimate.MeanSeconds.Value - truth) < Math.Abs(estimate.NaiveMeanSeconds!.Value - truth) / 3);
    }

    [Fact]
    public void Median_of_the_curve_is_close_to_the_true_median()
    {
        // Shape 1.5 over a window where about half are alive: the curve drops below one half within the window.
        const double shape = 1.5;
        var fleet = SimulatedFleet.Draw(seed: 17, sensors: 4000, shape, Scale, 1700 * Day, decommissionedShare: 0.05);
        var trueMedian = Scale * Math.Pow(Math.Log(2), 1 / shape);

        var estimate = LifespanEstimate.From(fleet.Observations);

        Assert.InRange(estimate.MedianSeconds!.Value, 0.9 * trueMedian, 1.1 * trueMedian);
        Assert.InRange(estimate.Curve.Count, 2, LifespanEstimate.DefaultCurvePoints);
    }

    [Fact]
    public void Fleet_observed_to_the_end_uses_the_area_under_the_curve()
    {
        // Every sensor observed until it failed: the curve reaches zero and its area is the plain average of
        // the lifespans, which for 4000 draws is close to the truth.
        const double shape = 1.5;
        var random = new Random(5);
        var observations = Enumerable.Range(0, 4000)
            .Select(_ => new LifespanObservation(Scale * Math.Pow(-Math.Log(1 - random.NextDouble()), 1 / shape), Failed: true))
            .ToArray();
        var truth = Scale * MathNet.Numerics.SpecialFunctions.Gamma(1 + 1 / shape);

        var estimate = LifespanEstimate.From(observations);

        Assert.Equal(MeanMethod.KaplanMeier, estimate.MeanMethod);
        Assert.Equal(observations.Average(o => o.Seconds), estimate.MeanSeconds!.Value, 1e-9 * Scale);
        Assert.InRange(estimate.MeanSeconds.Value, 0.95 * truth, 1.05 * truth);
        Assert.True(estimate.MeanCi95!.Value.Contains(truth));
        Assert.InRange(estimate.Weibull!.Shape, 0.95 * shape, 1.05 * shape);
    }
}
