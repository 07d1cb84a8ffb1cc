namespace Sensors360.Server.Database;

/// <summary>
/// Every PostgreSQL advisory lock key the server takes, one per use. Keys share one namespace in the
/// database, so two uses with the same key would wait for each other for no reason; they live together
/// here so a new one is chosen next to the others (a test checks they are distinct). The per-sensor locks of the
/// silence sweep's bulk raise use the two-key form (<c>AlertStore.SilenceRaiseLockSpace</c>, then the sensor), which
/// PostgreSQL keeps apart from every one-key lock here.
/// </summary>
internal static class AdvisoryLocks
{
    /// <summary>Held by <see cref="DatabaseSetup"/> while it applies <c>orleans-postgres.sql</c>, the migrations and the first partitions.</summary>
    public const long Schema = 0x5345_4E53_3336_3001;

    /// <summary>
    /// Held by <c>HeartbeatPartitions</c> while it creates the coming months' <c>heartbeat</c> partitions, and by
    /// the heartbeat import while it creates past months. Defined beside the import (in Sensors360.Grains, which
    /// cannot see this class), so both take the very same key.
    /// </summary>
    public const long HeartbeatPartitions = Sensors360.Grains.Sensors.HeartbeatImport.PartitionLockKey;

    /// <summary>Held by <c>OperatorBootstrap</c> while it settles the session key and creates the first admin.</summary>
    public const long OperatorBootstrap = 0x5345_4E53_3336_3003;

    /// <summary>
    /// Held by the silence sweep for the length of one sweep, so one silo sweeps at a time. Defined beside the
    /// sweep (in Sensors360.Grains, which cannot see this class).
    /// </summary>
    public const long SilenceSweep = Sensors360.Grains.Sensors.SilenceSweep.LockKey;

    /// <summary>Held by the notification dispatcher while it queues reminders, so one silo queues them at a time.</summary>
    public const long NotificationReminders = 0x5345_4E53_3336_3013;

    /// <summary>
    /// Held by <c>HeartbeatRetention</c> for a whole run (archiving and dropping old months), so each month is
    /// archived by one silo. A session lock: a run spans several transactions.
    /// </summary>
    public const long HeartbeatRetention = 0x5345_4E53_3336_3015;

    /// <summary>
    /// Taken by <c>orleans-postgres.sql</c> itself, written there as a literal because the script also runs
    /// on its own under psql; listed here only so no other use picks it.
    /// </summary>
    public const long OrleansScript = 4236140772518303601;
}
