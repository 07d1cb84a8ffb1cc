namespace Sensors360.Grains.Analytics;

/// <summary>Settings under <c>Sensors360:Analytics</c>.</summary>
public sealed class AnalyticsOptions
{
    public const string Section = "Sensors360:Analytics";

    /// <summary>
    /// A sensor silent for longer than this, and not retired, counts as failed at its last heartbeat; a
    /// shorter silence is an outage, not a death (docs/analytics.md).
    /// </summary>
    public TimeSpan PresumedDeadAfter { get; set; } = TimeSpan.FromDays(1);

    /// <summary>The horizon served when none is asked for, and the only one unless <see cref="HorizonHours"/> names others.</summary>
    public const int DefaultHorizonHours = 168;

    /// <summary>
    /// The horizons, in hours, a failure model is trained and served for (<c>?horizonHours=</c>); each is one model.
    /// Empty here, so configuring <c>HorizonHours:0</c> replaces the default instead of adding to it (the binder
    /// appends to a non-empty array).
    /// </summary>
    public int[] HorizonHours { get; set; } = [];

    /// <summary>The configured horizons, or the default one.</summary>
    public IReadOnlyList<int> Horizons => HorizonHours.Length > 0 ? HorizonHours : [DefaultHorizonHours];

    /// <summary>How often each failure model is trained again on the fleet's history.</summary>
    public TimeSpan RetrainEvery { get; set; } = TimeSpan.FromHours(6);

    /// <summary>How often the live sensors are ranked again with the current model.</summary>
    public TimeSpan RescoreEvery { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How far back the training's cut-off times reach.</summary>
    public TimeSpan TrainOver { get; set; } = TimeSpan.FromDays(180);

    /// <summary>
    /// At most this many training examples (a live sensor at a cut-off time); beyond it survivors are sampled, every
    /// failure is kept and the probabilities are corrected for the sampling.
    /// </summary>
    public int MaxTrainingExamples { get; set; } = 300_000;
}
