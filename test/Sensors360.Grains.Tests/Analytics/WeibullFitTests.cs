using MathNet.Numerics;
using Sensors360.Grains.Analytics;

namespace Sensors360.Grains.Tests.Analytics;

/// <summary>
/// The fit checked against the log-likelihood written out afresh here and differentiated numerically: the
/// fitted point must be where its slope vanishes, and the interval must follow from its curvature.
/// </summary>
public sealed class WeibullFitTests
{
    private const double Day = 86_400;

    [Theory]
    [InlineData(0.8, 1500)]
    [InlineData(1.5, 1700)]
    [InlineData(3.0, 1000)]
    public void Fit_is_the_maximum_and_its_interval_follows_from_the_curvature(double shape, double windowDays)
    {
        var fleet = SimulatedFleet.Draw(seed: 11, sensors: 1000, shape, 1000 * Day, windowDays * Day, decommissionedShare: 0.05);
        var observations = fleet.Observations;

        var fit = WeibullFit.Estimate(observations)!;

        // In a = log k, b = log λ: a failure contributes log f(t) = a − b + (k − 1)(log t − b) − (t/λ)^k,
        // a censored sensor log S(t) = −(t/λ)^k.
        double LogLikelihood(double a, double b)
        {
            var k = Math.Exp(a);
            var sum = 0.0;
            foreach (var o in observations)
            {
                var z = Math.Log(o.Seconds) - b;
                sum += (o.Failed ? a - b + (k - 1) * z : 0) - Math.Exp(k * z);
            }
            return sum;
        }

        var a0 = Math.Log(fit.Shape);
        var b0 = Math.Log(fit.ScaleSeconds);
        const double h = 1e-3;
        var f0 = LogLikelihood(a0, b0);
        var fa1 = LogLikelihood(a0 + h, b0);
        var fa2 = LogLikelihood(a0 - h, b0);
        var fb1 = LogLikelihood(a0, b0 + h);
        var fb2 = LogLikelihood(a0, b0 - h);

        // The slope vanishes at the maximum (relative to the curvature, which grows with the fleet).
        var slopeA = (fa1 - fa2) / (2 * h);
        var slopeB = (fb1 - fb2) / (2 * h);
        var hAA = (fa1 - 2 * f0 + fa2) / (h * h);
        var hBB = (fb1 - 2 * f0 + fb2) / (h * h);
        var hAB = (LogLikelihood(a0 + h, b0 + h) - LogLikelihood(a0 + h, b0 - h)
                   - LogLikelihood(a0 - h, b0 + h) + LogLikelihood(a0 - h, b0 - h)) / (4 * h * h);
        Assert.True(hAA < 0 && hBB < 0 && hAA * hBB > hAB * hAB, "Not a maximum.");
        Assert.InRange(Math.Abs(slopeA) / -hAA, 0, 1e-4);
        Assert.InRange(Math.Abs(slopeB) / -hBB, 0, 1e-4);

        // The delta method by hand: log mean = b + log Γ(1 + e^−a), gradient by central differences too.
        double LogMean(double a, double b) => b + SpecialFunctions.GammaLn(1 + Math.Exp(-a));
        var gA = (LogMean(a0 + h, b0) - LogMean(a0 - h, b0)) / (2 * h);
        const double gB = 1;
        var determinant = hAA * hBB - hAB * hAB;
        // Covariance = (−Hessian)⁻¹ = [[−hBB, hAB], [hAB, −hAA]] / determinant.
        var variance = (-hBB * gA * gA + 2 * hAB * gA * gB - hAA * gB * gB) / determinant;
        var halfWidth = 1.959963984540054 * Math.Sqrt(variance);

        Assert.Equal(Math.Exp(LogMean(a0, b0)), fit.MeanSeconds, 1e-9 * fit.MeanSeconds);
        var ci = fit.MeanCi95!.Value;
        Assert.Equal(fit.MeanSeconds * Math.Exp(-halfWidth), ci.Low, 1e-3 * fit.MeanSeconds);
        Assert.Equal(fit.MeanSeconds * Math.Exp(halfWidth), ci.High, 1e-3 * fit.MeanSeconds);
    }
}
