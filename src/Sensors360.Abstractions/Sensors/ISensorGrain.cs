using Sensors360.Abstractions.Alerts;

namespace Sensors360.Abstractions.Sensors;

/// <summary>
/// One field sensor, keyed by its public id: its life (pending, online, silent, retired), its heartbeats
/// and its silence alerts. The <c>sensor</c> and <c>heartbeat</c> tables are its record.
/// </summary>
public interface ISensorGrain : IGrainWithStringKey
{
    /// <summary>Registers the sensor; <see cref="ProvisionResult.AlreadyExists"/> when the id is taken.</summary>
    Task<ProvisionResult> Provision(SensorRegistration registration);

    /// <summary>Stores a heartbeat durably and returns once it is committed (or why it was not).</summary>
    Task<HeartbeatResult> Heartbeat(HeartbeatReport report);

    /// <summary>
    /// Stores heartbeats the sensor buffered while offline (times already validated, none in the future) in
    /// one transaction; ones already stored count as done. Returns once committed, as <see cref="Heartbeat"/>.
    /// </summary>
    Task<HeartbeatResult> ImportHeartbeats(string tokenHash, BufferedHeartbeat[] buffered);

    /// <summary>
    /// Heartbeats of this sensor were imported: reload its record and judge its silence again, resolving an
    /// open alert whose silence the history shows ended in the past. Raises no alert for past gaps.
    /// </summary>
    Task HistoryImported();

    /// <summary>
    /// Ends the sensor's life: no more alerts, heartbeats are refused. Idempotent: a retired sensor keeps
    /// its first retirement. <see cref="SensorCommandResult.BeforeLastHeartbeat"/> when the time is too early.
    /// </summary>
    Task<SensorCommandResult> Retire(SensorRetirement retirement);

    /// <summary>
    /// Pauses the sensor until <see cref="SensorPause.Until"/>: no silence alert meanwhile (heartbeats are still
    /// stored). A pause while paused moves the end. <see cref="SensorCommandResult.Retired"/> for a retired sensor.
    /// </summary>
    Task<SensorCommandResult> Pause(SensorPause pause);

    /// <summary>Ends the sensor's own pause now; a silence already past its threshold is alerted at once.</summary>
    Task<SensorCommandResult> EndPause();

    /// <summary>Replaces the token; the old one stops working at once.</summary>
    Task<SensorCommandResult> RotateToken(string tokenHash);

    /// <summary>
    /// Records that <paramref name="username"/> acknowledged one of this sensor's alerts (the first
    /// acknowledgement stands) and tells the dashboards.
    /// </summary>
    Task<AlertAcknowledgement> AcknowledgeAlert(long alertId, string username);

    /// <summary>The sensor as this grain sees it now, or null when no such sensor exists.</summary>
    Task<SensorSnapshot?> Describe();

    /// <summary>Reports every heartbeat and state change to <paramref name="observer"/> for two minutes; renew to keep watching.</summary>
    Task Watch(ISensorObserver observer);

    Task Unwatch(ISensorObserver observer);

    /// <summary>Checks whether the sensor has been silent past its threshold (timer and reminder entry point).</summary>
    Task CheckSilence();

    /// <summary>
    /// The silence sweep found this sensor overdue in the database with no open alert, its last stored heartbeat
    /// being <paramref name="lastHeartbeatAt"/> (null: it never reported). The grain reads the sensor again unless it
    /// holds exactly that, counts the signs of life only it knows (heartbeats the database could not take), and
    /// raises the alert if it is due, else watches for it. True when this call raised the alert.
    /// </summary>
    Task<bool> ConfirmSilence(DateTimeOffset? lastHeartbeatAt);
}
