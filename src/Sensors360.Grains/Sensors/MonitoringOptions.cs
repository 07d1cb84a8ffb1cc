namespace Sensors360.Grains.Sensors;

/// <summary>Settings under <c>Sensors360:Monitoring</c>.</summary>
public sealed class MonitoringOptions
{
    public const string Section = "Sensors360:Monitoring";

    /// <summary>The shortest threshold and check period accepted, so tests and demos can run in seconds.</summary>
    public static readonly TimeSpan MinimumPeriod = TimeSpan.FromSeconds(1);

    /// <summary>Silence longer than this raises an alert, unless a sensor has its own threshold.</summary>
    public TimeSpan SilenceThreshold { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Period of the reminder that backs each online sensor's silence timer. It bounds how late an alert
    /// can be when the sensor's silo died: threshold + check period at worst.
    /// </summary>
    public TimeSpan SilenceCheckPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Period of the <see cref="SilenceSweep"/>, the database's own check for silences no timer or reminder
    /// raised (a crash, lost reminders, an unknown commit outcome) and for sensors that never reported. It
    /// bounds how late such an alert can be: threshold + sweep period (+ the sweep's own few seconds).
    /// </summary>
    public TimeSpan SweepPeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often each silo writes its sensors' heartbeat counters (<see cref="SensorCheckpoint"/>), in one statement
    /// for all the sensors that beat since. Whole-fleet readers (the fleet aggregate, the sweep's first filter) lag
    /// the heartbeats by up to this much (more after a crash, until the sensors' next activation).
    /// </summary>
    public TimeSpan CheckpointPeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The range of <see cref="CheckpointPeriod"/>: often enough to keep readers close, rarely enough to batch.</summary>
    public static readonly TimeSpan MinimumCheckpointPeriod = TimeSpan.FromMilliseconds(100);

    /// <inheritdoc cref="MinimumCheckpointPeriod"/>
    public static readonly TimeSpan MaximumCheckpointPeriod = TimeSpan.FromMinutes(1);
}
