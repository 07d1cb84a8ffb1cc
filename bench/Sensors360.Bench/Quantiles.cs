namespace Sensors360.Bench;

/// <summary>Percentiles of a run's samples, by nearest rank (the smallest sample at or above the fraction).</summary>
internal static class Quantiles
{
    /// <summary>The <paramref name="quantile"/> (0 to 1) of <paramref name="samples"/>, in any order; 0 when there are none.</summary>
    public static double NearestRank(IReadOnlyCollection<double> samples, double quantile) => NearestRanks(samples, quantile)[0];

    /// <summary>Each of <paramref name="quantiles"/> of <paramref name="samples"/>, in that order, sorting the samples once.</summary>
    public static double[] NearestRanks(IReadOnlyCollection<double> samples, params ReadOnlySpan<double> quantiles)
    {
        var sorted = samples.Order().ToArray();
        var ranks = new double[quantiles.Length];
        for (var i = 0; i < quantiles.Length; i++)
        {
            ranks[i] = sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(quantiles[i] * sorted.Length) - 1)];
        }

        return ranks;
    }
}
