using MathNet.Numerics;
using MathNet.Numerics.RootFinding;

namespace Sensors360.Grains.Analytics;

/// <summary>
/// A Weibull distribution fitted to the fleet's lifespans by maximum likelihood, with right-censoring:
/// a failed sensor contributes the log-density of its lifespan, a censored one the log-probability of
/// living at least as long as it was observed. The fitted shape says whether sensors wear out (above 1),
/// fail at random (1) or die young (below 1); the fit is what lets the mean reach past the oldest sensor.
/// </summary>
/// <param name="Shape">Shape k of the distribution.</param>
/// <param name="ScaleSeconds">Scale λ of the distribution: the age by which 63% of sensors have failed.</param>
/// <param name="MeanSeconds">The distribution's mean, λ·Γ(1 + 1/k).</param>
/// <param name="MeanCi95">
/// A 95% interval for the mean by the delta method on the observed information of (log k, log λ); null when
/// the information matrix is singular.
/// </param>
public sealed record WeibullFit(double Shape, double ScaleSeconds, double MeanSeconds, ConfidenceInterval? MeanCi95)
{
    /// <summary>Fewer failures than this say nothing about the shape.</summary>
    public const int MinimumFailures = 2;

    // The search for the shape stays within these bounds; a shape outside them is not a lifespan
    // distribution any fleet has (and signals degenerate data, e.g. every failure at the same age).
    private const double SmallestShape = 1e-3;
    private const double LargestShape = 1e3;

    /// <summary>
    /// Fits the distribution; null when there are fewer than <see cref="MinimumFailures"/> failures or the
    /// likelihood has no maximum at a finite shape. O(n) per evaluation of the score, a few dozen evaluations.
    /// </summary>
    public static WeibullFit? Estimate(IReadOnlyList<LifespanObservation> observations)
    {
        ArgumentNullException.ThrowIfNull(observations);
        var n = observations.Count;
        var failures = 0;
        var longest = 0.0;
        foreach (var observation in observations)
        {
            failures += observation.Failed ? 1 : 0;
            longest = Math.Max(longest, observation.EffectiveSeconds);
        }
        if (failures < MinimumFailures)
        {
            return null;
        }

        // Work in units of the longest observation: every scaled age is in (0, 1], so xᵏ never overflows
        // whatever the shape, and the logarithms are precomputed once for all evaluations.
        var logAges = new double[n];
        var failed = new bool[n];
        var meanFailedLogAge = 0.0;
        for (var i = 0; i < n; i++)
        {
            logAges[i] = Math.Log(observations[i].EffectiveSeconds / longest);
            failed[i] = observations[i].Failed;
            meanFailedLogAge += failed[i] ? logAges[i] : 0;
        }
        meanFailedLogAge /= failures;

        // Given the shape k, the likelihood is maximal at λᵏ = Σ xᵢᵏ / r (r failures), so the fit reduces to
        // one equation in k, the profile score divided by r:
        //   1/k + mean of log x over failures − Σ xᵢᵏ log xᵢ / Σ xᵢᵏ = 0.
        // The last term is a weighted mean of log x whose weights shift to the oldest ages as k grows, so the
        // left side decreases in k: one root at most, which Brent's method finds once it is bracketed.
        double Score(double shape)
        {
            var weights = 0.0;
            var weightedLogs = 0.0;
            foreach (var logAge in logAges)
            {
                var weight = Math.Exp(shape * logAge);
                weights += weight;
                weightedLogs += weight * logAge;
            }
            return 1 / shape + meanFailedLogAge - weightedLogs / weights;
        }

        var low = 1.0;
        while (Score(low) <= 0 && low > SmallestShape)
        {
            low /= 4;
        }
        var high = 1.0;
        while (Score(high) >= 0 && high < LargestShape)
        {
            high *= 4;
        }
        if (Score(low) <= 0 || Score(high) >= 0
            || !Brent.TryFindRoot(Score, low, high, accuracy: 1e-12, maxIterations: 200, out var shape))
        {
            return null;
        }

        var sumPowers = 0.0;
        foreach (var logAge in logAges)
        {
            sumPowers += Math.Exp(shape * logAge);
        }
        var logScale = (Math.Log(sumPowers) - Math.Log(failures)) / shape;

        var scaleSeconds = longest * Math.Exp(logScale);
        var logMean = Math.Log(scaleSeconds) + SpecialFunctions.GammaLn(1 + 1 / shape);
        var ci = MeanInterval(logAges, failed, failures, shape, logScale, logMean);
        return new WeibullFit(shape, scaleSeconds, Math.Exp(logMean), ci);
    }

    /// <summary>
    /// The delta method in a = log k, b = log λ. With zᵢ = log xᵢ − b and uᵢ = exp(k·zᵢ), the log-likelihood is
    /// ℓ = Σ_failed (a − b + (k − 1)zᵢ) − Σ uᵢ, and its observed information (minus the Hessian) is
    ///   I_aa = Σ uᵢ(kzᵢ)² + Σ uᵢkzᵢ − Σ_failed kzᵢ,   I_ab = rk − k²Σ uᵢzᵢ − kΣ uᵢ,   I_bb = k²Σ uᵢ.
    /// The log of the mean is b + log Γ(1 + 1/k), with gradient (−ψ(1 + 1/k)/k, 1); its variance is
    /// gradientᵀ·I⁻¹·gradient. Working on the log scale keeps the interval positive and asymmetric, as the
    /// sampling distribution of a mean lifespan is.
    /// </summary>
    private static ConfidenceInterval? MeanInterval(double[] logAges, bool[] failed, int failures, double shape,
        double logScale, double logMean)
    {
        var sumU = 0.0;
        var sumUKz = 0.0;
        var sumUKz2 = 0.0;
        var sumFailedKz = 0.0;
        for (var i = 0; i < logAges.Length; i++)
        {
            var kz = shape * (logAges[i] - logScale);
            // At the maximum Σ uᵢ = r, so every uᵢ is at most r: no overflow.
            var u = Math.Exp(kz);
            sumU += u;
            sumUKz += u * kz;
            sumUKz2 += u * kz * kz;
            sumFailedKz += failed[i] ? kz : 0;
        }
        var infoAA = sumUKz2 + sumUKz - sumFailedKz;
        var infoAB = failures * shape - shape * sumUKz - shape * sumU;
        var infoBB = shape * shape * sumU;
        var determinant = infoAA * infoBB - infoAB * infoAB;
        if (!(determinant > 0) || !double.IsFinite(determinant))
        {
            return null;
        }

        var gradA = -SpecialFunctions.DiGamma(1 + 1 / shape) / shape;
        const double gradB = 1;
        var variance = (gradA * gradA * infoBB - 2 * gradA * gradB * infoAB + gradB * gradB * infoAA) / determinant;
        return variance >= 0 && double.IsFinite(variance)
            ? ConfidenceInterval.Around(Math.Exp(logMean), Math.Sqrt(variance))
            : null;
    }
}
