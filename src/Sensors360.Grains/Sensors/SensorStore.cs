using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Alerts;

namespace Sensors360.Grains.Sensors;

/// <summary>The SQL a sensor grain runs against the <c>sensor</c> table (heartbeats go through <see cref="HeartbeatLog"/>, alerts through <see cref="AlertStore"/>).</summary>
/// <remarks>Without a <see cref="SensorCheckpoint"/> (a test's bare store), heartbeats found past the checkpoint are not noted.</remarks>
public sealed class SensorStore(NpgsqlDataSource db, SensorCheckpoint? checkpoint = null)
{
    /// <summary>
    /// The sensor with its counters rebuilt: its checkpoint plus the heartbeats stored after it (schema/0016). Those,
    /// if any (a checkpoint lost with its silo, or not yet written), are noted for this silo's next checkpoint.
    /// </summary>
    public async Task<SensorRecord?> LoadAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"SELECT {SensorStatusView.Columns}, checkpoint_last_heartbeat_at, heartbeats_after_checkpoint FROM sensor_status_rebuilt WHERE name = $1");
        command.Parameters.AddWithValue(name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var sensor = SensorStatusView.Read(reader);
        var after = reader.GetInt64(SensorStatusView.ColumnCount + 1);
        if (after > 0 && sensor.LastHeartbeatAt is { } last)
        {
            var checkpointed = reader.IsDBNull(SensorStatusView.ColumnCount) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(SensorStatusView.ColumnCount);
            checkpoint?.Note(sensor.Id, checkpointed, last, after);
        }

        return sensor;
    }

    /// <summary>
    /// The channel on which every new sensor and every token rotation is announced (payload: the sensor's id), on
    /// commit, so each silo can forget what it remembered about refused heartbeats for it.
    /// </summary>
    public const string ChangeChannel = "sensors360_sensor_changed";

    /// <summary>Inserts the sensor; null when the name is taken (also by a concurrent insert on another silo).</summary>
    public async Task<(long Id, DateTimeOffset CreatedAt)?> InsertAsync(
        string name, string[] tags, int? silenceThresholdSeconds, string tokenHash, DateTimeOffset createdAt, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            WITH inserted AS (
                INSERT INTO sensor (name, tags, silence_threshold_seconds, token_hash, created_at)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (name) DO NOTHING
                RETURNING id, created_at, name
            )
            SELECT inserted.id, inserted.created_at FROM inserted CROSS JOIN LATERAL pg_notify('{ChangeChannel}', inserted.name)
            """);
        command.Parameters.AddWithValue(name);
        command.Parameters.AddWithValue(tags);
        command.Parameters.AddWithValue((object?)silenceThresholdSeconds ?? DBNull.Value);
        command.Parameters.AddWithValue(tokenHash);
        command.Parameters.AddWithValue(createdAt);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? (reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1))
            : null;
    }

    /// <summary>
    /// Inserts all the sensors in one transaction, or none: the names already taken (also by an insert that commits
    /// meanwhile) come back and nothing is written. One binary COPY, then one announcement per sensor on
    /// <see cref="ChangeChannel"/>, sent on commit as for a single insert. No grain is involved: a new sensor's
    /// grain activates with its first heartbeat, and until then the sweep watches it for a never-reported silence.
    /// <paramref name="beforeCommit"/> runs in the transaction after the insert (the caller's audit entry).
    /// </summary>
    public async Task<IReadOnlyList<string>> InsertManyAsync(
        IReadOnlyList<NewSensor> sensors, DateTimeOffset createdAt, Func<NpgsqlConnection, NpgsqlTransaction, Task> beforeCommit, CancellationToken cancellationToken)
    {
        var names = sensors.Select(sensor => sensor.Name).ToArray();
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (await TakenAsync(connection, transaction, names, cancellationToken) is { Count: > 0 } taken)
        {
            return taken;
        }

        try
        {
            await using (var copy = await connection.BeginBinaryImportAsync(
                "COPY sensor (name, tags, silence_threshold_seconds, token_hash, created_at) FROM STDIN (FORMAT BINARY)", cancellationToken))
            {
                foreach (var sensor in sensors)
                {
                    await copy.StartRowAsync(cancellationToken);
                    await copy.WriteAsync(sensor.Name, NpgsqlDbType.Text, cancellationToken);
                    await copy.WriteAsync(sensor.Tags, NpgsqlDbType.Array | NpgsqlDbType.Text, cancellationToken);
                    if (sensor.SilenceThresholdSeconds is { } seconds)
                    {
                        await copy.WriteAsync(seconds, NpgsqlDbType.Integer, cancellationToken);
                    }
                    else
                    {
                        await copy.WriteNullAsync(cancellationToken);
                    }

                    await copy.WriteAsync(sensor.TokenHash, NpgsqlDbType.Text, cancellationToken);
                    await copy.WriteAsync(createdAt, NpgsqlDbType.TimestampTz, cancellationToken);
                }

                await copy.CompleteAsync(cancellationToken);
            }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // Taken by an insert that committed after the check: name them from a fresh look, outside this failed transaction.
            await transaction.RollbackAsync(cancellationToken);
            return await TakenAsync(connection, null, names, cancellationToken);
        }

        await using (var announce = new NpgsqlCommand($"SELECT count(pg_notify('{ChangeChannel}', name)) FROM unnest($1::text[]) AS name", connection, transaction))
        {
            announce.Parameters.AddWithValue(names);
            await announce.ExecuteNonQueryAsync(cancellationToken);
        }

        await beforeCommit(connection, transaction);
        await transaction.CommitAsync(cancellationToken);
        return [];
    }

    private static async Task<IReadOnlyList<string>> TakenAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string[] names, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT name FROM sensor WHERE name = ANY($1) ORDER BY name", connection, transaction);
        command.Parameters.AddWithValue(names);
        var taken = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            taken.Add(reader.GetString(0));
        }

        return taken;
    }

    /// <summary>Marks the sensor retired, and why, and resolves its open alert, in one transaction.</summary>
    public async Task RetireAsync(long sensorId, DateTimeOffset at, RetirementReason reason, CancellationToken cancellationToken)
    {
        await using var batch = db.CreateBatch();
        var retire = new NpgsqlBatchCommand("UPDATE sensor SET retired_at = $2, retired_reason = $3 WHERE id = $1 AND retired_at IS NULL");
        retire.Parameters.Add(new NpgsqlParameter { Value = sensorId });
        retire.Parameters.Add(new NpgsqlParameter { Value = at });
        retire.Parameters.Add(new NpgsqlParameter { Value = reason.ToString().ToLowerInvariant() });
        batch.BatchCommands.Add(retire);
        batch.BatchCommands.Add(AlertStore.ResolveOpenCommand(sensorId, at));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The condition, on sensor <c>s</c> at time <c>$1</c>, that it is neither paused nor in a running maintenance
    /// window of one of its tags. Once a pause ends, an overdue sensor meets it at once, so the sweep alerts it.
    /// </summary>
    public const string NotPaused = """
        (s.paused_until IS NULL OR s.paused_until <= $1)
        AND NOT EXISTS (SELECT 1 FROM maintenance_window w WHERE w.ends_at > $1 AND w.starts_at <= $1 AND w.tags && s.tags)
        """;

    /// <summary>
    /// The sweep's one query ($1 now, $2 the default threshold in seconds): sensors not retired, not paused
    /// (<see cref="NotPaused"/>), without an open alert, whose last heartbeat (or, never heard from, provisioning) +
    /// threshold is at or before now; the longest overdue first. The checkpoint (<see cref="SensorCheckpoint"/>) may
    /// lag the heartbeats, by a period or, after a crash, until the sensor's next activation: it only picks the
    /// candidates, and each one's last heartbeat is then taken from its heartbeat rows after the checkpoint, so a
    /// sensor that did beat since is not overdue.
    /// </summary>
    private const string OverdueStatement = $"""
        SELECT c.id, c.name, c.last_heartbeat_at, c.silent_since
        FROM (SELECT s.id, s.name, l.last_heartbeat_at,
                     coalesce(l.last_heartbeat_at, s.created_at) + d.threshold AS silent_since
              FROM sensor s
              CROSS JOIN LATERAL (SELECT coalesce(s.silence_threshold_seconds, $2::float8) * interval '1 second' AS threshold) AS d
              CROSS JOIN LATERAL (SELECT coalesce((SELECT max(h.received_at) FROM heartbeat h
                                                   WHERE h.sensor_id = s.id AND h.received_at > coalesce(s.last_heartbeat_at, '-infinity')),
                                                  s.last_heartbeat_at) AS last_heartbeat_at) AS l
              WHERE s.retired_at IS NULL
                AND coalesce(s.last_heartbeat_at, s.created_at) + d.threshold <= $1
                AND NOT EXISTS (SELECT 1 FROM alert a WHERE a.sensor_id = s.id AND a.resolved_at IS NULL)
                AND {NotPaused}) AS c
        WHERE c.silent_since <= $1
        ORDER BY c.silent_since, c.id
        """;

    // Cursor names are per session; a fresh one each time lets one transaction open several.
    private static long _overdueCursors;

    /// <summary>
    /// The sensors overdue at <paramref name="now"/> (<see cref="OverdueStatement"/>), as a cursor in
    /// <paramref name="transaction"/> (the sweep's, which holds its advisory lock): the statement runs once, however
    /// large the backlog, and <see cref="OverdueBacklog.ReadAsync"/> hands it out page by page. Read page by page
    /// with a fresh statement each, a backlog of a million sensors cost the whole scan and sort for every page.
    /// </summary>
    public static async Task<OverdueBacklog> OpenOverdueAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DateTimeOffset now, TimeSpan defaultThreshold, CancellationToken cancellationToken)
    {
        await Jit.OffForTransactionAsync(connection, transaction, cancellationToken);

        var cursor = $"overdue_{Interlocked.Increment(ref _overdueCursors)}";
        await using var declare = new NpgsqlCommand($"DECLARE {cursor} NO SCROLL CURSOR FOR {OverdueStatement}", connection, transaction);
        declare.Parameters.AddWithValue(now);
        declare.Parameters.AddWithValue(defaultThreshold.TotalSeconds);
        await declare.ExecuteNonQueryAsync(cancellationToken);
        return new OverdueBacklog(connection, transaction, cursor);
    }

    /// <summary>The first <paramref name="limit"/> sensors overdue at <paramref name="now"/>, the longest overdue first (<see cref="OpenOverdueAsync"/>).</summary>
    public static async Task<IReadOnlyList<OverdueSensor>> ReadOverdueAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DateTimeOffset now, TimeSpan defaultThreshold, int limit, CancellationToken cancellationToken)
    {
        var backlog = await OpenOverdueAsync(connection, transaction, now, defaultThreshold, cancellationToken);
        return await backlog.ReadAsync(limit, cancellationToken);
    }

    /// <summary>
    /// Pauses the sensor until <paramref name="until"/> from <paramref name="now"/>: its own pause and, for uptime,
    /// the pause's history row (the running one is moved, else a new one), in one transaction.
    /// </summary>
    public async Task PauseAsync(long sensorId, DateTimeOffset now, DateTimeOffset until, string? reason, string? pausedBy, CancellationToken cancellationToken)
    {
        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(Command(
            "UPDATE sensor SET paused_until = $2, paused_reason = $3 WHERE id = $1",
            sensorId, until, (object?)reason ?? DBNull.Value));
        batch.BatchCommands.Add(Command("""
            WITH running AS (
                UPDATE sensor_pause SET ends_at = $3, reason = $4, paused_by = $5
                WHERE sensor_id = $1 AND starts_at <= $2 AND ends_at > $2
                RETURNING id)
            INSERT INTO sensor_pause (sensor_id, starts_at, ends_at, reason, paused_by)
            SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM running)
            """, sensorId, now, until, (object?)reason ?? DBNull.Value, (object?)pausedBy ?? DBNull.Value));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Ends the sensor's own pause at <paramref name="now"/>, and its history row with it.</summary>
    public async Task ResumeAsync(long sensorId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(Command("UPDATE sensor SET paused_until = NULL, paused_reason = NULL WHERE id = $1", sensorId));
        batch.BatchCommands.Add(Command(
            "UPDATE sensor_pause SET ends_at = $2 WHERE sensor_id = $1 AND starts_at <= $2 AND ends_at > $2", sensorId, now));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    private static NpgsqlBatchCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return command;
    }

    public async Task RotateTokenAsync(long sensorId, string tokenHash, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            WITH rotated AS (UPDATE sensor SET token_hash = $2 WHERE id = $1 RETURNING name)
            SELECT count(pg_notify('{ChangeChannel}', rotated.name)) FROM rotated
            """);
        command.Parameters.AddWithValue(sensorId);
        command.Parameters.AddWithValue(tokenHash);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>
/// A sensor the database shows overdue with no open alert: its last stored heartbeat (null: it never reported) and
/// when its silence began by the database's account (last heartbeat or provisioning, + threshold).
/// </summary>
public sealed record OverdueSensor(long Id, string Name, DateTimeOffset? LastHeartbeatAt, DateTimeOffset SilentSince);

/// <summary>A sensor to insert with <see cref="SensorStore.InsertManyAsync"/>: its public id, tags, threshold (null: the default) and token hash.</summary>
public sealed record NewSensor(string Name, string[] Tags, int? SilenceThresholdSeconds, string TokenHash);

/// <summary>
/// The overdue sensors of one sweep (<see cref="SensorStore.OpenOverdueAsync"/>): a cursor that lives until its
/// transaction ends, read forward only.
/// </summary>
public sealed class OverdueBacklog(NpgsqlConnection connection, NpgsqlTransaction transaction, string cursor)
{
    /// <summary>The next <paramref name="count"/> sensors, fewer at the end of the backlog, none past it.</summary>
    public async Task<IReadOnlyList<OverdueSensor>> ReadAsync(int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        await using var fetch = new NpgsqlCommand(string.Create(CultureInfo.InvariantCulture, $"FETCH FORWARD {count} FROM {cursor}"), connection, transaction);
        await using var reader = await fetch.ExecuteReaderAsync(cancellationToken);
        var overdue = new List<OverdueSensor>();
        while (await reader.ReadAsync(cancellationToken))
        {
            overdue.Add(new OverdueSensor(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2),
                reader.GetFieldValue<DateTimeOffset>(3)));
        }

        return overdue;
    }
}
