using Sensors360.Grains.Analytics;

namespace Sensors360.Grains.Tests.Analytics;

/// <summary>
/// A fleet whose lifespans are known because they were drawn: sensors installed at uniformly spread times
/// over a window, each with a Weibull lifespan drawn by inverting the distribution function, a share of them
/// decommissioned at a random age before the cut-off, and everything observed at the end of the window.
/// </summary>
internal sealed class SimulatedFleet
{
    public required IReadOnlyList<LifespanObservation> Observations { get; init; }

    public required double TrueMeanSeconds { get; init; }

    public double CensoredShare => Observations.Count(o => !o.Failed) / (double)Observations.Count;

    public static SimulatedFleet Draw(int seed, int sensors, double shape, double scaleSeconds, double windowSeconds, double decommissionedShare)
    {
        var random = new Random(seed);
        var observations = new LifespanObservation[sensors];
        for (var i = 0; i < sensors; i++)
        {
            var installedAt = random.NextDouble() * windowSeconds;
            var ageAtCutOff = windowSeconds - installedAt;
            // F(t) = 1 − exp(−(t/λ)^k)  ⇒  t = λ·(−ln(1 − U))^(1/k).
            var lifespan = scaleSeconds * Math.Pow(-Math.Log(1 - random.NextDouble()), 1 / shape);
            var decommissionedAt = random.NextDouble() < decommissionedShare
                ? random.NextDouble() * ageAtCutOff
                : double.PositiveInfinity;
            var observedUntil = Math.Min(ageAtCutOff, decommissionedAt);
            observations[i] = lifespan <= observedUntil
                ? new LifespanObservation(lifespan, Failed: true)
                : new LifespanObservation(observedUntil, Failed: false);
        }
        return new SimulatedFleet
        {
            Observations = observations,
            // The distribution's own mean, not an estimator.
            TrueMeanSeconds = scaleSeconds * MathNet.Numerics.SpecialFunctions.Gamma(1 + 1 / shape),
        };
    }
}
