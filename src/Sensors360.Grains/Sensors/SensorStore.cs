using Npgsql;

namespace Sensors360.Grains.Sensors;

/// <summary>The SQL a sensor grain runs against the <c>sensor</c> and <c>alert</c> tables (heartbeats go through <see cref="HeartbeatLog"/>).</summary>
public sealed class SensorStore(NpgsqlDataSource db)
{
    private const string SilentKind = "silent";

    public async Task<SensorRecord?> LoadAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            SELECT id, name, tags, created_at, first_heartbeat_at, last_heartbeat_at, heartbeat_count,
                   retired_at, silence_threshold_seconds, token_hash, open_alert_id, open_alert_silent_since, open_alert_raised_at
            FROM sensor_status
            WHERE name = $1
            """);
        command.Parameters.AddWithValue(name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new SensorRecord(
            reader.GetInt64(0),
            reader.GetString(1),
            reader.GetFieldValue<string[]>(2),
            reader.GetFieldValue<DateTimeOffset>(3),
            reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
            reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
            reader.GetInt64(6),
            reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
            reader.IsDBNull(8) ? null : reader.GetInt32(8),
            reader.GetString(9),
            reader.IsDBNull(10) ? null : reader.GetInt64(10),
            reader.IsDBNull(11) ? null : reader.GetFieldValue<DateTimeOffset>(11),
            reader.IsDBNull(12) ? null : reader.GetFieldValue<DateTimeOffset>(12));
    }

    /// <summary>Inserts the sensor; null when the name is taken (also by a concurrent insert on another silo).</summary>
    public async Task<(long Id, DateTimeOffset CreatedAt)?> InsertAsync(
        string name, string[] tags, int? silenceThresholdSeconds, string tokenHash, DateTimeOffset createdAt, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            INSERT INTO sensor (name, tags, silence_threshold_seconds, token_hash, created_at)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (name) DO NOTHING
            RETURNING id, created_at
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

    /// <summary>Marks the sensor retired and resolves its open alert, in one transaction.</summary>
    public async Task RetireAsync(long sensorId, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(Command("UPDATE sensor SET retired_at = $2 WHERE id = $1 AND retired_at IS NULL", sensorId, at));
        batch.BatchCommands.Add(Command("UPDATE alert SET resolved_at = greatest($2, raised_at) WHERE sensor_id = $1 AND resolved_at IS NULL", sensorId, at));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task RotateTokenAsync(long sensorId, string tokenHash, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("UPDATE sensor SET token_hash = $2 WHERE id = $1");
        command.Parameters.AddWithValue(sensorId);
        command.Parameters.AddWithValue(tokenHash);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Opens a silence alert and returns its id. If one is already open (another silo raced us), that one
    /// is returned instead: the partial unique index guarantees a single open alert per sensor.
    /// </summary>
    public async Task<long> RaiseSilenceAsync(long sensorId, DateTimeOffset silentSince, DateTimeOffset raisedAt, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            WITH raised AS (
                INSERT INTO alert (sensor_id, kind, silent_since, raised_at)
                VALUES ($1, 'silent', $2, $3)
                ON CONFLICT (sensor_id, kind) WHERE resolved_at IS NULL DO NOTHING
                RETURNING id)
            SELECT id FROM raised
            UNION ALL
            SELECT id FROM alert WHERE sensor_id = $1 AND kind = 'silent' AND resolved_at IS NULL
            LIMIT 1
            """);
        command.Parameters.AddWithValue(sensorId);
        command.Parameters.AddWithValue(silentSince);
        command.Parameters.AddWithValue(raisedAt);
        if (await command.ExecuteScalarAsync(cancellationToken) is long raised)
        {
            return raised;
        }

        // A concurrent raise committed after this statement's snapshot was taken: read it now.
        await using var open = db.CreateCommand("SELECT id FROM alert WHERE sensor_id = $1 AND kind = 'silent' AND resolved_at IS NULL");
        open.Parameters.AddWithValue(sensorId);
        return await open.ExecuteScalarAsync(cancellationToken) is long existing
            ? existing
            : throw new InvalidOperationException($"No open {SilentKind} alert for sensor {sensorId} after raising one.");
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
}
