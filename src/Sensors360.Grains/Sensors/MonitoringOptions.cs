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
}
