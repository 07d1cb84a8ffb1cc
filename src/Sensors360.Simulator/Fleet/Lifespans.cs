namespace Sensors360.Simulator.Fleet;

/// <summary>
/// Lifespans from the Weibull distribution with shape k and scale λ, drawn by inverting its distribution
/// function: λ·(−ln U)^(1/k). Shape 1 is the memoryless exponential; above 1 sensors wear out, so old ones
/// fail more often than young ones. The mean is λ·Γ(1 + 1/k).
/// </summary>
internal sealed class Lifespans(double shape, TimeSpan scale)
{
    public TimeSpan Draw(Random random)
    {
        // 1 − NextDouble() lies in (0, 1], so the logarithm is finite.
        var u = 1.0 - random.NextDouble();
        return scale * Math.Pow(-Math.Log(u), 1.0 / shape);
    }
}
