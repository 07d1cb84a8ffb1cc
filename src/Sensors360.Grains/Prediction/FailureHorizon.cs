namespace Sensors360.Grains.Prediction;

/// <summary>
/// The past cut-off times a model for one horizon learns from (docs/analytics.md). Every cut-off lies at least a
/// horizon plus the presumed-dead silence before now, so whether each sensor live then failed within the horizon is
/// already known. The last quarter of the cut-offs is the validation slice; training cut-offs end a horizon before
/// it, so no training label reaches into the time the validation predicts.
/// </summary>
public sealed record FailureHorizon(TimeSpan Horizon, double[] Cutoffs, double ValidationFrom)
{
    /// <summary>The longest horizon a model is trained for: 90 days.</summary>
    public const int MaxHours = 2160;

    private const double ValidationShare = 0.25;

    public double HorizonSeconds => Horizon.TotalSeconds;

    /// <summary>Cut-offs a quarter of the horizon apart (at least an hour), from the newest possible back over <paramref name="trainOver"/>.</summary>
    public static FailureHorizon Plan(TimeSpan horizon, DateTimeOffset now, TimeSpan presumedDeadAfter, TimeSpan trainOver, DateTimeOffset firstHeartbeat)
    {
        var latest = Seconds(now - horizon - presumedDeadAfter);
        var earliest = Math.Max(Seconds(firstHeartbeat), latest - trainOver.TotalSeconds);
        var step = Math.Max(horizon.TotalSeconds / 4, 3600);
        var cutoffs = new List<double>();
        for (var at = latest; at > earliest; at -= step)
        {
            cutoffs.Add(at);
        }

        cutoffs.Reverse();
        return new FailureHorizon(horizon, [.. cutoffs], latest - (ValidationShare * (latest - earliest)));
    }

    /// <summary>Whether the cut-off belongs to the validation slice.</summary>
    public bool Validates(double cutoff) => cutoff >= ValidationFrom;

    /// <summary>Whether a cut-off's examples are used at all: validation ones, or training ones whose horizon ends before validation starts.</summary>
    public bool Uses(double cutoff) => Validates(cutoff) || cutoff + HorizonSeconds < ValidationFrom;

    public static double Seconds(DateTimeOffset at) => (at - DateTimeOffset.UnixEpoch).TotalSeconds;
}
