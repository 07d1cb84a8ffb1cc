using Npgsql;

namespace Sensors360.Grains.Alerts;

/// <summary>An alert as operators see it.</summary>
public sealed record AlertView(
    long Id,
    string SensorId,
    string Kind,
    DateTimeOffset SilentSince,
    DateTimeOffset RaisedAt,
    DateTimeOffset? ResolvedAt,
    DateTimeOffset? AcknowledgedAt,
    string? AcknowledgedBy);

/// <summary>Which alerts to list.</summary>
public enum AlertState
{
    Open,
    Resolved,
    All,
}

/// <summary>Reads alerts and records acknowledgements. Sensor grains raise and resolve alerts; operators only acknowledge.</summary>
public sealed class AlertLedger(NpgsqlDataSource db)
{
    private const string Select = """
        SELECT a.id, s.name, a.kind, a.silent_since, a.raised_at, a.resolved_at, a.acknowledged_at, u.username
        FROM alert a
        JOIN sensor s ON s.id = a.sensor_id
        LEFT JOIN app_user u ON u.id = a.acknowledged_by
        """;

    /// <summary>Newest first; <paramref name="beforeId"/> continues a previous page.</summary>
    public async Task<IReadOnlyList<AlertView>> ListAsync(
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

    public async Task<AlertView?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"{Select} WHERE a.id = $1");
        command.Parameters.AddWithValue(id);
        return (await ReadAllAsync(command, cancellationToken)).SingleOrDefault();
    }

    /// <summary>Records who acknowledged the alert and when; the first acknowledgement stands. Null when no such alert.</summary>
    public async Task<AlertView?> AcknowledgeAsync(long id, string username, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            UPDATE alert a SET acknowledged_at = $3, acknowledged_by = u.id
            FROM app_user u
            WHERE a.id = $1 AND u.username = $2 AND a.acknowledged_at IS NULL
            """);
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(username);
        command.Parameters.AddWithValue(at);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return await GetAsync(id, cancellationToken);
    }

    private static async Task<IReadOnlyList<AlertView>> ReadAllAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var alerts = new List<AlertView>();
        while (await reader.ReadAsync(cancellationToken))
        {
            alerts.Add(new AlertView(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetFieldValue<DateTimeOffset>(3),
                reader.GetFieldValue<DateTimeOffset>(4),
                reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
                reader.IsDBNull(7) ? null : reader.GetString(7)));
        }

        return alerts;
    }
}
