namespace Sensors360.Grains.Analytics;

/// <summary>Where <see cref="LifespanEstimate.MeanSeconds"/> came from.</summary>
public enum MeanMethod
{
    /// <summary>No mean: there are no failures, or too few to fit a distribution while sensors are still alive.</summary>
    None,

    /// <summary>The area under the Kaplan–Meier curve, which reaches zero: every lifespan's end has been seen.</summary>
    KaplanMeier,

    /// <summary>The mean of the Weibull fit, because the curve stops above zero and the tail must be extrapolated.</summary>
    Weibull,
}
