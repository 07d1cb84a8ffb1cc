namespace Sensors360.Grains.Sensors;

/// <summary>
/// The clock sensors are judged by, registered as a keyed <see cref="TimeProvider"/>. It is kept apart
/// from the unkeyed one Orleans runs its own timers on, so tests can fake sensor time without freezing the silo.
/// </summary>
public static class MonitoringClock
{
    public const string Key = "sensors360.monitoring";
}
