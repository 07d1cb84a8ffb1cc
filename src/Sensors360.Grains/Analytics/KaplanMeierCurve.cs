namespace Sensors360.Grains.Analytics;

/// <summary>
/// The Kaplan–Meier estimate of the fleet's survival curve: the probability that a sensor lives longer
/// than a given age, estimated from sensors that failed and sensors still alive (right-censored), with
/// Greenwood's variance at every step.
/// </summary>
public sealed class KaplanMeierCurve
{
    private readonly SurvivalPoint[] _points;

    private KaplanMeierCurve(SurvivalPoint[] points, int sensors, int failures, double longestSeconds,
        double restrictedMeanSeconds, double restrictedMeanVariance)
    {
        _points = points;
        Sensors = sensors;
        Failures = failures;
        LongestSeconds = longestSeconds;
        RestrictedMeanSeconds = restrictedMeanSeconds;
        RestrictedMeanVariance = restrictedMeanVariance;
    }

    /// <summary>One point per distinct age at which at least one sensor failed, in increasing age.</summary>
    public IReadOnlyList<SurvivalPoint> Points => _points;

    /// <summary>Observations the curve was estimated from.</summary>
    public int Sensors { get; }

    /// <summary>Observations that ended in a failure.</summary>
    public int Failures { get; }

    /// <summary>The longest observation, failed or censored (0 when there are none); the curve is known up to here.</summary>
    public double LongestSeconds { get; }

    /// <summary>
    /// True when the curve drops to zero, which happens exactly when the longest observation is a failure:
    /// then the whole distribution has been seen and the area under the curve is the mean lifespan.
    /// </summary>
    public bool ReachesZero => _points.Length > 0 && _points[^1].Survival == 0;

    /// <summary>
    /// The area under the curve from 0 to <see cref="LongestSeconds"/>: the mean lifespan restricted to
    /// that horizon. It is the mean itself when <see cref="ReachesZero"/>; otherwise it underestimates it,
    /// because the curve says nothing about how long the survivors will go on living.
    /// </summary>
    public double RestrictedMeanSeconds { get; }

    /// <summary>The Greenwood-based variance of <see cref="RestrictedMeanSeconds"/>.</summary>
    public double RestrictedMeanVariance { get; }

    /// <summary>The first age at which survival is at most one half; null when the curve never drops that far.</summary>
    public double? MedianSeconds
    {
        get
        {
            foreach (var point in _points)
            {
                if (point.Survival <= 0.5)
                {
                    return point.AgeSeconds;
                }
            }
            return null;
        }
    }

    /// <summary>Estimates the curve; sorting makes it O(n log n), the rest is two linear passes.</summary>
    public static KaplanMeierCurve Estimate(IReadOnlyList<LifespanObservation> observations)
    {
        ArgumentNullException.ThrowIfNull(observations);
        var n = observations.Count;
        var ages = new double[n];
        var failed = new bool[n];
        var failures = 0;
        for (var i = 0; i < n; i++)
        {
            ages[i] = observations[i].EffectiveSeconds;
            failed[i] = observations[i].Failed;
            failures += failed[i] ? 1 : 0;
        }
        Array.Sort(ages, failed);

        // At most one point per failure.
        var points = new List<SurvivalPoint>(failures);
        var failuresAt = new List<int>(failures);
        var atRisk = n;
        var survival = 1.0;
        var greenwoodSum = 0.0;
        for (var i = 0; i < n;)
        {
            var age = ages[i];
            var died = 0;
            var leaving = 0;
            // Ties: everyone observed up to this age, failed or censored, counts as at risk at this age.
            // Failures are taken to come first, the usual convention: a sensor censored at the age another
            // failed was alive when that one failed.
            for (; i < n && ages[i] == age; i++)
            {
                died += failed[i] ? 1 : 0;
                leaving++;
            }
            if (died > 0)
            {
                survival *= 1 - (double)died / atRisk;
                // When everyone at risk fails the curve is at zero and so is its variance; Greenwood's term
                // would divide by zero there.
                if (died < atRisk)
                {
                    greenwoodSum += (double)died / ((double)atRisk * (atRisk - died));
                }
                points.Add(new SurvivalPoint(age, survival, atRisk, survival * survival * greenwoodSum));
                failuresAt.Add(died);
            }
            atRisk -= leaving;
        }

        var longest = n > 0 ? ages[^1] : 0;
        var (mean, meanVariance) = RestrictedMean(points, failuresAt, longest);
        return new KaplanMeierCurve([.. points], n, failures, longest, mean, meanVariance);
    }

    /// <summary>
    /// The area under the step curve up to <paramref name="horizon"/>, and its variance: the sum over the
    /// failure ages tᵢ of Aᵢ²·dᵢ / (nᵢ(nᵢ − dᵢ)), where Aᵢ is the area under the curve from tᵢ to the horizon
    /// (the delta method applied to Greenwood's terms). One backward pass accumulates the Aᵢ.
    /// </summary>
    private static (double Mean, double Variance) RestrictedMean(List<SurvivalPoint> points, List<int> failuresAt, double horizon)
    {
        var areaAfter = 0.0;
        var variance = 0.0;
        for (var j = points.Count - 1; j >= 0; j--)
        {
            var end = j + 1 < points.Count ? points[j + 1].AgeSeconds : horizon;
            areaAfter += points[j].Survival * (end - points[j].AgeSeconds);
            var atRisk = points[j].AtRisk;
            var died = failuresAt[j];
            if (died < atRisk)
            {
                variance += areaAfter * areaAfter * died / ((double)atRisk * (atRisk - died));
            }
        }
        // Before the first failure the curve is at 1.
        var firstAge = points.Count > 0 ? points[0].AgeSeconds : horizon;
        return (firstAge + areaAfter, variance);
    }

    /// <summary>
    /// At most <paramref name="maxPoints"/> points of the curve, for display. Every point kept is a point of
    /// the curve, unchanged, so drawn as steps it is still the Kaplan–Meier curve, only coarser; the first and
    /// the last point are always kept. Both axes are cut into m equal shares of their range: a point is kept
    /// when survival has dropped, or age advanced, by one share since the last kept point. So neither a steep
    /// early drop nor a long flat tail is lost, and the thinned curve is never off by more than one share
    /// vertically or horizontally. The largest m whose result fits is found by bisection (a few linear passes).
    /// </summary>
    public IReadOnlyList<SurvivalPoint> Thin(int maxPoints)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPoints, 2);
        if (_points.Length <= maxPoints)
        {
            return _points;
        }

        // With m shares per axis, each interior point kept uses up at least one share of one axis, so at most
        // 2m interior points are kept: m = (maxPoints − 2) / 2 always fits. Finer shares usually fit too,
        // since one point often completes a share of both axes at once.
        var fits = (maxPoints - 2) / 2;
        var tooMany = maxPoints - 1;
        // (Only rounding could make the guaranteed m overflow; then the ends alone are still a faithful summary.)
        var thinned = ThinWithShares(fits, maxPoints) ?? [_points[0], _points[^1]];
        while (tooMany - fits > 1)
        {
            var shares = fits + (tooMany - fits) / 2;
            var candidate = ThinWithShares(shares, maxPoints);
            if (candidate is null)
            {
                tooMany = shares;
            }
            else
            {
                (fits, thinned) = (shares, candidate);
            }
        }
        return thinned;
    }

    /// <summary>The points kept with <paramref name="shares"/> shares per axis, or null when more than <paramref name="limit"/>.</summary>
    private List<SurvivalPoint>? ThinWithShares(int shares, int limit)
    {
        var first = _points[0];
        var last = _points[^1];
        var survivalStep = shares > 0 ? (first.Survival - last.Survival) / shares : double.PositiveInfinity;
        var ageStep = shares > 0 ? (last.AgeSeconds - first.AgeSeconds) / shares : double.PositiveInfinity;

        var kept = new List<SurvivalPoint>(limit) { first };
        var previous = first;
        for (var i = 1; i < _points.Length - 1; i++)
        {
            var point = _points[i];
            if (previous.Survival - point.Survival >= survivalStep || point.AgeSeconds - previous.AgeSeconds >= ageStep)
            {
                if (kept.Count == limit - 1)
                {
                    return null;
                }
                kept.Add(point);
                previous = point;
            }
        }
        kept.Add(last);
        return kept;
    }
}
