namespace Sensors360.Grains.Analytics;

/// <summary>
/// One step of a Kaplan–Meier curve: at <paramref name="AgeSeconds"/> at least one sensor failed, and the
/// curve drops to <paramref name="Survival"/>, where it stays until the next point.
/// </summary>
/// <param name="AgeSeconds">The age at which the failures of this step happened.</param>
/// <param name="Survival">Estimated probability that a sensor lives longer than <paramref name="AgeSeconds"/>.</param>
/// <param name="AtRisk">Sensors still observed (neither failed nor censored) just before this age.</param>
/// <param name="Variance">Greenwood's estimate of the variance of <paramref name="Survival"/>.</param>
public readonly record struct SurvivalPoint(double AgeSeconds, double Survival, int AtRisk, double Variance);
