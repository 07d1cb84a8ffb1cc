namespace Sensors360.Grains.Sensors;

/// <summary>
/// The Orleans reminder behind every online sensor's silence timer. It lives in the database, so it
/// fires on a surviving silo after the sensor's own silo died or the whole cluster restarted. Its period
/// is <see cref="MonitoringOptions.SilenceCheckPeriod"/>.
/// </summary>
public static class SilenceReminder
{
    public const string Name = "silence";
}
