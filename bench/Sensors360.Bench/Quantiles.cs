namespace Sensors360.Bench;

/// <summary>Percentiles of a run's samples, by nearest rank (the smallest sample at or above the fraction).</summary>
internal static class Quantiles
{
    /// <summary>The <paramref name="quantile"/> (0 to 1) of <paramref name="samples"/>, in any order; 0 when there are none.</summary>
    public static double NearestRank(IReadOnlyCollection<double> samples, double quantile)
    {
        if (samples.Count == 0)
        {
            return 0;
        }

        var sorted = samples.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(quantile * sorted.Length) - 1)];
    }
}
