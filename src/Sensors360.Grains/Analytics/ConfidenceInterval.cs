namespace Sensors360.Grains.Analytics;

/// <summary>A two-sided confidence interval, <paramref name="Low"/> ≤ <paramref name="High"/>.</summary>
public readonly record struct ConfidenceInterval(double Low, double High)
{
    /// <summary>The standard normal quantile for a two-sided 95% interval.</summary>
    internal const double Z95 = 1.959963984540054;

    /// <summary>
    /// A 95% interval for a positive quantity whose logarithm is roughly normal with standard error
    /// <paramref name="logStandardError"/>. Built on the log scale so it never reaches below zero and
    /// widens upwards, as intervals for lifetimes should.
    /// </summary>
    internal static ConfidenceInterval Around(double estimate, double logStandardError) => new(
        estimate * Math.Exp(-Z95 * logStandardError),
        estimate * Math.Exp(Z95 * logStandardError));

    /// <summary>True when <paramref name="value"/> lies within the interval, bounds included.</summary>
    public bool Contains(double value) => Low <= value && value <= High;
}
