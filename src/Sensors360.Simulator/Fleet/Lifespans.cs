namespace Sensors360.Simulator.Fleet;

/// <summary>
/// Lifespans from the Weibull distribution with shape k and scale λ, drawn by inverting its distribution
/// function: λ·(−ln U)^(1/k). Shape 1 is the memoryless exponential; above 1 sensors wear out, so old ones
/// fail more often than young ones. The mean is λ·Γ(1 + 1/k).
/// </summary>
internal sealed class Lifespans(double shape, TimeSpan scale)
{
    public TimeSpan Draw(Random random) => scale * InScales(random);

    /// <summary>A lifespan in seconds: a double never overflows, where a small shape's rare draws exceed what a TimeSpan holds.</summary>
    public double DrawSeconds(Random random) => scale.TotalSeconds * InScales(random);

    /// <summary>One draw in units of the scale.</summary>
    private double InScales(Random random)
    {
        // 1 − NextDouble() lies in (0, 1], so the logarithm is finite.
        var u = 1.0 - random.NextDouble();
        return Math.Pow(-Math.Log(u), 1.0 / shape);
    }
}
