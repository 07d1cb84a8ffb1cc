using Npgsql;
using Sensors360.Abstractions.Alerts;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Alerts;

/// <summary>Which alerts to list.</summary>
public enum AlertState
{
    Open,
    Resolved,
    All,
}

/// <summary>The open alerts a fleet view shows: how many there are, and the newest of them.</summary>
public sealed record OpenAlerts(int Count, IReadOnlyList<Alert> Newest);

/// <summary>
/// Every statement on the <c>alert</c> table: raise, resolve (also after imported history), acknowledge, list and count. Sensor grains
/// are its writers, each for its own sensor (and the silence sweep, for sensors whose grains are active nowhere or whose silo is gone); the
/// heartbeat writer and a retirement put its resolve commands into their own transactions.
/// </summary>
public sealed class AlertStore(NpgsqlDataSource db)
{
    private const string Select = """
        SELECT a.id, s.name, a.kind, a.silent_since, a.raised_at, a.resolved_at, a.acknowledged_at, u.username
        FROM alert a
        JOIN sensor s ON s.id = a.sensor_id
        LEFT JOIN app_user u ON u.id = a.acknowledged_by
        """;

    /// <summary>
    /// Opens a silence alert of <paramref name="kind"/> (<see cref="Alert.Silent"/> or <see cref="Alert.NeverReported"/>)
    /// on sensor <paramref name="sensorId"/> (public id <paramref name="sensorName"/>) and returns it. If one is
    /// already open (another silo or the sweep raced us), that one is returned instead, whatever its kind: the
    /// partial unique index guarantees a single open alert per sensor. One statement, so a committed raise is
    /// never followed by a read that could fail on its own.
    /// </summary>
    public async Task<Alert> RaiseSilenceAsync(
        long sensorId, string sensorName, string kind, DateTimeOffset silentSince, DateTimeOffset raisedAt, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            WITH raised AS (
                INSERT INTO alert (sensor_id, kind, silent_since, raised_at)
                VALUES ($1, $4, $2, $3)
                ON CONFLICT (sensor_id) WHERE resolved_at IS NULL DO NOTHING
                RETURNING id, kind, silent_since, raised_at, acknowledged_at, acknowledged_by)
            SELECT r.id, r.kind, r.silent_since, r.raised_at, r.acknowledged_at, NULL::text FROM raised r
            UNION ALL
            SELECT a.id, a.kind, a.silent_since, a.raised_at, a.acknowledged_at, u.username
            FROM alert a LEFT JOIN app_user u ON u.id = a.acknowledged_by
            WHERE a.sensor_id = $1 AND a.resolved_at IS NULL
            LIMIT 1
            """);
        command.Parameters.AddWithValue(sensorId);
        command.Parameters.AddWithValue(silentSince);
        command.Parameters.AddWithValue(raisedAt);
        command.Parameters.AddWithValue(kind);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                return new Alert(
                    reader.GetInt64(0),
                    sensorName,
                    reader.GetString(1),
                    reader.GetFieldValue<DateTimeOffset>(2),
                    reader.GetFieldValue<DateTimeOffset>(3),
                    ResolvedAt: null,
                    reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
                    reader.IsDBNull(5) ? null : reader.GetString(5));
            }
        }

        // No row: a concurrent raise committed after this statement's snapshot was taken; it is visible now.
        var open = await ListAsync(AlertState.Open, sensorName, beforeId: null, limit: 1, cancellationToken);
        return open.Count == 1
            ? open[0]
            : throw new InvalidOperationException($"No open alert for sensor {sensorName} after raising one.");
    }

    /// <summary>
    /// For the silence sweep: opens the silence alerts of <paramref name="sensors"/> (overdue by the database, their
    /// grains active nowhere or on a silo that cannot be reached) in one transaction, each only if its sensor still
    /// stands as the sweep read it: not retired, not paused nor in a maintenance window at <paramref name="raisedAt"/>,
    /// no heartbeat row after the last one the sweep saw, no open alert (the index). Kind and silent-since as the grain would give them: never reported without a heartbeat,
    /// silent since last heartbeat (or provisioning) + threshold. The alerts raised; the trigger on <c>alert</c>
    /// queues one notification event for each, as for any raise.
    /// </summary>
    public async Task<IReadOnlyList<Alert>> RaiseSilencesIfUnchangedAsync(
        IReadOnlyList<OverdueSensor> sensors, DateTimeOffset raisedAt, CancellationToken cancellationToken)
    {
        if (sensors.Count == 0)
        {
            return [];
        }

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var raised = await RaiseSilencesIfUnchangedAsync(connection, transaction, sensors, raisedAt, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return raised;
    }

    /// <summary>
    /// The statements of the bulk raise, in the caller's transaction (committed by the caller). First each sensor's
    /// raise lock is taken (an advisory lock in <see cref="SilenceRaiseLockSpace"/>, tried, never waited for); a
    /// heartbeat written by a grain that may not know of this raise takes the same lock shared first
    /// (<see cref="LockSensorsCommand"/>). So either that heartbeat holds it, and this raise leaves the sensor to the
    /// next sweep, or it waits for this commit and then resolves the alert it never saw
    /// (<see cref="ResolveOpenOfSensorsCommand"/>). An advisory lock and not the sensor's row: a row held by anything
    /// else (an operator's transaction, the checkpoint, a retirement) must not make a heartbeat wait, and this raise
    /// never waits for a lock, so it cannot deadlock. The insert is a second statement on purpose: in READ COMMITTED
    /// it takes its snapshot after the locks.
    /// </summary>
    public static async Task<IReadOnlyList<Alert>> RaiseSilencesIfUnchangedAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<OverdueSensor> sensors, DateTimeOffset raisedAt,
        CancellationToken cancellationToken)
    {
        var locked = new HashSet<long>();
        await using (var lockRows = new NpgsqlCommand(
            $"SELECT id FROM unnest($1::bigint[]) AS id WHERE pg_try_advisory_xact_lock($2, {RaiseLockOfId})", connection, transaction))
        {
            lockRows.Parameters.AddWithValue(sensors.Select(sensor => sensor.Id).ToArray());
            lockRows.Parameters.AddWithValue(SilenceRaiseLockSpace);
            await using var rows = await lockRows.ExecuteReaderAsync(cancellationToken);
            while (await rows.ReadAsync(cancellationToken))
            {
                locked.Add(rows.GetInt64(0));
            }
        }

        // Sensors whose first heartbeat is being written are left to the next sweep.
        var raisable = sensors.Where(sensor => locked.Contains(sensor.Id)).ToList();
        if (raisable.Count == 0)
        {
            return [];
        }

        await using var insert = new NpgsqlCommand($"""
            INSERT INTO alert (sensor_id, kind, silent_since, raised_at)
            SELECT s.id, c.kind, c.silent_since, $5
            FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS c (sensor_id, kind, silent_since, last_heartbeat_at)
            JOIN sensor s ON s.id = c.sensor_id
            WHERE s.retired_at IS NULL
              -- The heartbeat rows, not the checkpoint (which may lag them): none stored after the one the sweep saw.
              AND NOT EXISTS (SELECT 1 FROM heartbeat h WHERE h.sensor_id = s.id AND h.received_at > coalesce(c.last_heartbeat_at, '-infinity'))
              AND {SensorStore.NotPaused.Replace("$1", "$5", StringComparison.Ordinal)}
            ORDER BY s.id
            ON CONFLICT (sensor_id) WHERE resolved_at IS NULL DO NOTHING
            RETURNING id, sensor_id, kind, silent_since, raised_at
            """, connection, transaction);
        insert.Parameters.AddWithValue(raisable.Select(sensor => sensor.Id).ToArray());
        insert.Parameters.AddWithValue(raisable.Select(sensor => sensor.LastHeartbeatAt is null ? Alert.NeverReported : Alert.Silent).ToArray());
        insert.Parameters.AddWithValue(raisable.Select(sensor => sensor.SilentSince).ToArray());
        insert.Parameters.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.TimestampTz,
            Value = raisable.Select(sensor => sensor.LastHeartbeatAt).ToArray(),
        });
        insert.Parameters.AddWithValue(raisedAt);
        var names = raisable.ToDictionary(sensor => sensor.Id, sensor => sensor.Name);
        var raised = new List<Alert>();
        await using var reader = await insert.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            raised.Add(new Alert(reader.GetInt64(0), names[reader.GetInt64(1)], reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3),
                reader.GetFieldValue<DateTimeOffset>(4), ResolvedAt: null, AcknowledgedAt: null, AcknowledgedBy: null));
        }

        return raised;
    }

    /// <summary>
    /// The advisory lock space (the two-key form, apart from every one-key lock of <c>AdvisoryLocks</c>) of the bulk
    /// raise's per-sensor locks; the second key is the sensor's id (<see cref="RaiseLockOfId"/>).
    /// </summary>
    public const int SilenceRaiseLockSpace = 0x5336_3017;

    // The lock's second key: the id itself for every id below 2^31; above, two sensors may share one, which only makes
    // one wait for the other's raise.
    private const string RaiseLockOfId = "(id % 2147483648)::integer";

    /// <summary>
    /// For the heartbeat writer's batch, before its other statements: takes the raise lock of each sensor whose grain
    /// may not know of every open alert, shared (see <see cref="RaiseSilencesIfUnchangedAsync(NpgsqlConnection, NpgsqlTransaction, IReadOnlyList{OverdueSensor}, DateTimeOffset, CancellationToken)"/>):
    /// it waits only for a bulk raise of that very sensor, never for its row.
    /// </summary>
    public static NpgsqlBatchCommand LockSensorsCommand(long[] sensorIds) => Command(
        $"SELECT count(taken) FROM (SELECT pg_advisory_xact_lock_shared($2, {RaiseLockOfId}) IS NULL AS taken FROM unnest($1::bigint[]) AS id) AS locks",
        sensorIds, SilenceRaiseLockSpace);

    /// <summary>
    /// Resolves whatever alert of each sensor is open, at its heartbeat's time (never before it was raised); for the
    /// heartbeat writer's batch, after <see cref="LockSensorsCommand"/>, for heartbeats whose grains may not know of it.
    /// </summary>
    public static NpgsqlBatchCommand ResolveOpenOfSensorsCommand(long[] sensorIds, DateTimeOffset[] resolvedAt) => Command("""
        UPDATE alert AS a SET resolved_at = greatest(b.at, a.raised_at)
        FROM unnest($1::bigint[], $2::timestamptz[]) AS b (sensor_id, at)
        WHERE a.sensor_id = b.sensor_id AND a.resolved_at IS NULL
        """, sensorIds, resolvedAt);

    /// <summary>Resolves the given alerts, each at its time (never before it was raised); for the heartbeat writer's batch.</summary>
    public static NpgsqlBatchCommand ResolveCommand(long[] alertIds, DateTimeOffset[] resolvedAt) => Command("""
        UPDATE alert AS a SET resolved_at = greatest(b.at, a.raised_at)
        FROM unnest($1::bigint[], $2::timestamptz[]) AS b (id, at)
        WHERE a.id = b.id AND a.resolved_at IS NULL
        """, alertIds, resolvedAt);

    /// <summary>Resolves whatever alert of the sensor is open; for the sensor's retirement.</summary>
    public static NpgsqlBatchCommand ResolveOpenCommand(long sensorId, DateTimeOffset at) => Command(
        "UPDATE alert SET resolved_at = greatest($2, raised_at) WHERE sensor_id = $1 AND resolved_at IS NULL", sensorId, at);

    /// <summary>
    /// Resolves open alert <paramref name="alertId"/> of sensor <paramref name="sensorId"/> if a heartbeat was
    /// stored after its silence began (imported history showed the silence ended in the past), at the first
    /// such heartbeat (never before it was raised). A <see cref="Alert.NeverReported"/> alert is wrong as soon as
    /// any heartbeat exists, whenever it was taken. The resolution time, or null when no such heartbeat exists.
    /// </summary>
    public async Task<DateTimeOffset?> ResolveIfHeartbeatSinceAsync(long alertId, long sensorId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            UPDATE alert AS a SET resolved_at = greatest(h.first_after, a.raised_at)
            FROM (SELECT min(hb.received_at) AS first_after
                  FROM heartbeat hb, alert open
                  WHERE open.id = $1 AND hb.sensor_id = $2
                    AND hb.received_at > CASE WHEN open.kind = 'never-reported' THEN '-infinity' ELSE open.silent_since END) AS h
            WHERE a.id = $1 AND a.sensor_id = $2 AND a.resolved_at IS NULL AND h.first_after IS NOT NULL
            RETURNING a.resolved_at
            """);
        command.Parameters.AddWithValue(alertId);
        command.Parameters.AddWithValue(sensorId);
        var resolved = await command.ExecuteScalarAsync(cancellationToken);
        return resolved is DateTimeOffset at ? at : resolved is DateTime utc ? new DateTimeOffset(utc, TimeSpan.Zero) : null;
    }

    /// <summary>
    /// Records who acknowledged the alert of sensor <paramref name="sensorId"/> and when; the first
    /// acknowledgement stands (<c>Recorded</c> is false for a later one). Null when the sensor has no such alert.
    /// </summary>
    public async Task<(Alert Alert, bool Recorded)?> AcknowledgeAsync(
        long id, long sensorId, string username, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(Command("""
            UPDATE alert a SET acknowledged_at = $3, acknowledged_by = u.id
            FROM app_user u
            WHERE a.id = $1 AND a.sensor_id = $2 AND u.username = $4 AND a.acknowledged_at IS NULL
            """, id, sensorId, at, username));
        batch.BatchCommands.Add(Command($"{Select} WHERE a.id = $1 AND a.sensor_id = $2", id, sensorId));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return (Read(reader, first: 0), batch.BatchCommands[0].RecordsAffected == 1);
    }

    public async Task<Alert?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"{Select} WHERE a.id = $1");
        command.Parameters.AddWithValue(id);
        return (await ReadAllAsync(command, cancellationToken)).SingleOrDefault();
    }

    /// <summary>Newest first; <paramref name="beforeId"/> continues a previous page.</summary>
    public async Task<IReadOnlyList<Alert>> ListAsync(
        AlertState state, string? sensorId, long? beforeId, int limit, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            {Select}
            WHERE ($1 = 'all' OR ($1 = 'open') = (a.resolved_at IS NULL))
              AND ($2::text IS NULL OR s.name = $2)
              AND ($3::bigint IS NULL OR a.id < $3)
            ORDER BY a.id DESC
            LIMIT $4
            """);
        command.Parameters.AddWithValue(state.ToString().ToLowerInvariant());
        command.Parameters.AddWithValue((object?)sensorId ?? DBNull.Value);
        command.Parameters.AddWithValue((object?)beforeId ?? DBNull.Value);
        command.Parameters.AddWithValue(limit);
        return await ReadAllAsync(command, cancellationToken);
    }

    /// <summary>How many alerts are open, and the newest <paramref name="newest"/> of them (last raised first), in one read.</summary>
    public async Task<OpenAlerts> ReadOpenAsync(int newest, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            SELECT (SELECT count(*) FROM alert WHERE resolved_at IS NULL)::int, o.*
            FROM (SELECT 1) AS one
            LEFT JOIN ({Select} WHERE a.resolved_at IS NULL ORDER BY a.raised_at DESC, a.id DESC LIMIT $1) AS o ON true
            ORDER BY o.raised_at DESC, o.id DESC
            """);
        command.Parameters.AddWithValue(newest);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var alerts = new List<Alert>();
        var count = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            // Always one row at least; without open alerts its alert columns are null.
            count = reader.GetInt32(0);
            if (!reader.IsDBNull(1))
            {
                alerts.Add(Read(reader, first: 1));
            }
        }

        return new OpenAlerts(count, alerts);
    }

    private static async Task<IReadOnlyList<Alert>> ReadAllAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var alerts = new List<Alert>();
        while (await reader.ReadAsync(cancellationToken))
        {
            alerts.Add(Read(reader, first: 0));
        }

        return alerts;
    }

    /// <summary>An alert from the columns of <see cref="Select"/>, starting at ordinal <paramref name="first"/>.</summary>
    private static Alert Read(NpgsqlDataReader reader, int first) => new(
        reader.GetInt64(first),
        reader.GetString(first + 1),
        reader.GetString(first + 2),
        reader.GetFieldValue<DateTimeOffset>(first + 3),
        reader.GetFieldValue<DateTimeOffset>(first + 4),
        reader.IsDBNull(first + 5) ? null : reader.GetFieldValue<DateTimeOffset>(first + 5),
        reader.IsDBNull(first + 6) ? null : reader.GetFieldValue<DateTimeOffset>(first + 6),
        reader.IsDBNull(first + 7) ? null : reader.GetString(first + 7));

    private static NpgsqlBatchCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return command;
    }
}
