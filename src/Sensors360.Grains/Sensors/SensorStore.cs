using Npgsql;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Alerts;

namespace Sensors360.Grains.Sensors;

/// <summary>The SQL a sensor grain runs against the <c>sensor</c> table (heartbeats go through <see cref="HeartbeatLog"/>, alerts through <see cref="AlertStore"/>).</summary>
public sealed class SensorStore(NpgsqlDataSource db)
{
    public async Task<SensorRecord?> LoadAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"SELECT {SensorStatusView.Columns} FROM sensor_status WHERE name = $1");
        command.Parameters.AddWithValue(name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? SensorStatusView.Read(reader) : null;
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
