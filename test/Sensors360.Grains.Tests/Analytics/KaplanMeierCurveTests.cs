using Sensors360.Grains.Analytics;

namespace Sensors360.Grains.Tests.Analytics;

public sealed class KaplanMeierCurveTests
{
    private const double Tolerance = 1e-12;

    // Eight sensors, with a tie of two failures and a censoring at the same age (3 s), censorings between
    // failures, and the longest observation a failure, so the curve reaches zero.
    private static readonly LifespanObservation[] s_eight =
    [
        new(9, Failed: true),
        new(3, Failed: false),
        new(2, Failed: true),
        new(5, Failed: false),
        new(3, Failed: true),
        new(8, Failed: false),
        new(6, Failed: true),
        new(3, Failed: true),
    ];

    [Fact]
    public void Hand_computed_curve_with_ties_and_censoring()
    {
        // Sorted: 2F, 3F, 3F, 3C, 5C, 6F, 8C, 9F.
        // t=2: at risk 8, 1 fails:  S = 7/8             = 0.875
        //      Greenwood sum 1/(8·7) = 1/56;  Var = 0.875² / 56 = 0.013671875
        // t=3: at risk 7 (the sensor censored at 3 counts: failures come first), 2 fail:
        //      S = 0.875 · 5/7 = 0.625;  sum += 2/(7·5) → 1/56 + 2/35 = 21/280 = 0.075;  Var = 0.625² · 0.075 = 0.029296875
        //      then 3 leave (2 failed, 1 censored): 4 remain; the censoring at 5 leaves 3.
        // t=6: at risk 3, 1 fails:  S = 0.625 · 2/3 = 5/12;  sum += 1/(3·2) → 29/120;  Var = (5/12)² · 29/120 = 725/17280
        //      the censoring at 8 leaves 1.
        // t=9: at risk 1, 1 fails:  S = 0, Var = 0.
        var curve = KaplanMeierCurve.Estimate(s_eight);

        Assert.Equal(4, curve.Points.Count);
        AssertPoint(curve.Points[0], age: 2, survival: 0.875, atRisk: 8, variance: 0.013671875);
        AssertPoint(curve.Points[1], age: 3, survival: 0.625, atRisk: 7, variance: 0.029296875);
        AssertPoint(curve.Points[2], age: 6, survival: 5.0 / 12, atRisk: 3, variance: 725.0 / 17280);
        AssertPoint(curve.Points[3], age: 9, survival: 0, atRisk: 1, variance: 0);

        Assert.Equal(8, curve.Sensors);
        Assert.Equal(5, curve.Failures);
        Assert.Equal(9, curve.LongestSeconds);
        Assert.True(curve.ReachesZero);
        // The first age with S ≤ 0.5 is 6 (S = 0.417); at 3 it is still 0.625.
        Assert.Equal(6.0, curve.MedianSeconds);
    }

    [Fact]
    public void Hand_computed_mean_and_its_variance()
    {
        // Area under the steps: [0,2)·1 + [2,3)·0.875 + [3,6)·0.625 + [6,9)·5/12 = 2 + 0.875 + 1.875 + 1.25 = 6.
        // Area after each failure age: A(9) = 0, A(6) = 1.25, A(3) = 3.125, A(2) = 4.
        // Variance: 4²·1/(8·7) + 3.125²·2/(7·5) + 1.25²·1/(3·2) (+ nothing at 9, where all at risk fail)
        //         = 2/7 + 19.53125/35 + 1.5625/6 = 53/48.
        var curve = KaplanMeierCurve.Estimate(s_eight);
        Assert.Equal(6, curve.RestrictedMeanSeconds, Tolerance);
        Assert.Equal(53.0 / 48, curve.RestrictedMeanVariance, Tolerance);

        // The curve reaches zero, but from 5/12 on its one oldest sensor while three were censored: its area
        // would cut off their tails, so the estimate's mean is the Weibull fit's.
        var estimate = LifespanEstimate.From(s_eight);
        Assert.Equal(MeanMethod.Weibull, estimate.MeanMethod);
        Assert.Equal(estimate.Weibull!.MeanSeconds, estimate.MeanSeconds!.Value, Tolerance);
        // Failures only: (2 + 3 + 3 + 6 + 9) / 5.
        Assert.Equal(4.6, estimate.NaiveMeanSeconds!.Value, Tolerance);
        Assert.Equal(6.0, estimate.MedianSeconds);
        Assert.Equal((8, 5, 3), (estimate.Sensors, estimate.Failed, estimate.Censored));
    }

    [Fact]
    public void Curve_stops_above_zero_when_the_longest_observation_is_censored()
    {
        // 10F, 20C, 30F, 40C. t=10: 4 at risk, S = 3/4. t=30: 2 at risk, S = 3/4 · 1/2 = 3/8.
        // Area to the horizon 40: 10·1 + 20·0.75 + 10·0.375 = 28.75, only a lower bound of the mean.
        var curve = KaplanMeierCurve.Estimate([new(10, true), new(20, false), new(30, true), new(40, false)]);

        Assert.False(curve.ReachesZero);
        Assert.Equal([0.75, 0.375], curve.Points.Select(p => p.Survival));
        Assert.Equal([4, 2], curve.Points.Select(p => p.AtRisk));
        Assert.Equal(28.75, curve.RestrictedMeanSeconds, Tolerance);
        Assert.Equal(30.0, curve.MedianSeconds);
    }

    [Fact]
    public void Thinning_keeps_real_points_the_ends_and_the_shape()
    {
        // 10,000 failures at distinct ages, a fast early drop then a long tail (squared uniform ages), and
        // every third sensor censored.
        var random = new Random(7);
        var observations = Enumerable.Range(0, 10_000)
            .Select(i => new LifespanObservation(1 + 1e6 * Math.Pow(random.NextDouble(), 2), Failed: i % 3 != 0))
            .ToArray();
        var curve = KaplanMeierCurve.Estimate(observations);
        Assert.True(curve.Points.Count > 6000);

        var thin = curve.Thin(200);

        Assert.InRange(thin.Count, 190, 200);
        Assert.Equal(curve.Points[0], thin[0]);
        Assert.Equal(curve.Points[^1], thin[^1]);
        var all = curve.Points.ToHashSet();
        Assert.All(thin, p => Assert.Contains(p, all));
        Assert.True(thin.Zip(thin.Skip(1)).All(pair => pair.First.AgeSeconds < pair.Second.AgeSeconds));

        // Drawn as steps, the thin curve is never more than one survival share (99 shares of the whole drop)
        // above the full curve at any failure age, and never below it.
        var drop = curve.Points[0].Survival - curve.Points[^1].Survival;
        var k = 0;
        foreach (var point in curve.Points)
        {
            while (k + 1 < thin.Count && thin[k + 1].AgeSeconds <= point.AgeSeconds)
            {
                k++;
            }
            var shown = thin[k].Survival;
            Assert.InRange(shown - point.Survival, 0, drop / 99 + 1e-12);
        }
    }

    [Fact]
    public void Thinning_a_short_curve_keeps_every_point()
    {
        var curve = KaplanMeierCurve.Estimate(s_eight);
        Assert.Equal(curve.Points, curve.Thin(200));
        Assert.Equal([curve.Points[0], curve.Points[^1]], curve.Thin(2));
    }

    private static void AssertPoint(SurvivalPoint point, double age, double survival, int atRisk, double variance)
    {
        Assert.Equal(age, point.AgeSeconds, Tolerance);
        Assert.Equal(survival, point.Survival, Tolerance);
        Assert.Equal(atRisk, point.AtRisk);
        Assert.Equal(variance, point.Variance, Tolerance);
    }
}
