using Npgsql;

namespace Sensors360.Grains.Uptime;

/// <summary>
/// Gathers uptime's history from the tables (<c>sensor</c>, <c>alert</c>, <c>sensor_pause</c>,
/// <c>maintenance_window</c>) for a window; <see cref="UptimeCalculation"/> does the arithmetic.
/// </summary>
public sealed class UptimeStore(NpgsqlDataSource db)
{
    /// <summary>One sensor's history overlapping [from, to) (retired before it: none); null when no sensor has that id.</summary>
    public async Task<UptimeHistory?> ReadSensorAsync(string sensorId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var histories = await ReadAsync("s.name = $3", sensorId, from, to, cancellationToken);
        return histories.Count == 1 ? histories[0] : null;
    }

    /// <summary>The history of every sensor alive at some time in [from, to).</summary>
    public Task<IReadOnlyList<UptimeHistory>> ReadFleetAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        ReadAsync("$3::text IS NULL AND s.created_at < $2 AND (s.retired_at IS NULL OR s.retired_at > $1)", null, from, to, cancellationToken);

    private async Task<IReadOnlyList<UptimeHistory>> ReadAsync(
        string which, string? sensorId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        // One snapshot for all four reads: one batch is one implicit transaction.
        var sensors = $"""
            SELECT s.id, s.tags, s.created_at, s.retired_at FROM sensor s
            WHERE {which}
            """;
        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(Command($"{sensors} ORDER BY s.id", from, to, sensorId));
        batch.BatchCommands.Add(Command($"""
            SELECT a.sensor_id, a.kind, a.silent_since, coalesce(a.resolved_at, $2) FROM alert a
            WHERE a.sensor_id IN (SELECT id FROM ({sensors}) AS s) AND a.silent_since < $2 AND (a.resolved_at IS NULL OR a.resolved_at > $1)
            """, from, to, sensorId));
        batch.BatchCommands.Add(Command($"""
            SELECT p.sensor_id, p.starts_at, p.ends_at FROM sensor_pause p
            WHERE p.sensor_id IN (SELECT id FROM ({sensors}) AS s) AND p.starts_at < $2 AND p.ends_at > $1
            """, from, to, sensorId));
        var windowsCommand = new NpgsqlBatchCommand("SELECT w.tags, w.starts_at, w.ends_at FROM maintenance_window w WHERE w.starts_at < $2 AND w.ends_at > $1");
        windowsCommand.Parameters.Add(new NpgsqlParameter { Value = from });
        windowsCommand.Parameters.Add(new NpgsqlParameter { Value = to });
        batch.BatchCommands.Add(windowsCommand);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);

        var rows = new List<(long Id, string[] Tags, DateTimeOffset CreatedAt, DateTimeOffset? RetiredAt)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add((reader.GetInt64(0), reader.GetFieldValue<string[]>(1), reader.GetFieldValue<DateTimeOffset>(2),
                reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3)));
        }

        var alerts = new Dictionary<long, List<Downtime>>();
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            Add(alerts, reader.GetInt64(0), new Downtime(reader.GetFieldValue<DateTimeOffset>(2), reader.GetFieldValue<DateTimeOffset>(3), reader.GetString(1)));
        }

        var pauses = new Dictionary<long, List<TimeSpanOf>>();
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            Add(pauses, reader.GetInt64(0), new TimeSpanOf(reader.GetFieldValue<DateTimeOffset>(1), reader.GetFieldValue<DateTimeOffset>(2)));
        }

        var windows = new List<(string[] Tags, TimeSpanOf Span)>();
        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            windows.Add((reader.GetFieldValue<string[]>(0), new TimeSpanOf(reader.GetFieldValue<DateTimeOffset>(1), reader.GetFieldValue<DateTimeOffset>(2))));
        }

        return [.. rows.Select(row => new UptimeHistory(
            row.CreatedAt,
            row.RetiredAt,
            alerts.GetValueOrDefault(row.Id) ?? [],
            [.. pauses.GetValueOrDefault(row.Id) ?? [], .. windows.Where(window => window.Tags.Any(row.Tags.Contains)).Select(window => window.Span)]))];
    }

    private static void Add<T>(Dictionary<long, List<T>> bySensor, long sensorId, T item)
    {
        if (!bySensor.TryGetValue(sensorId, out var list))
        {
            bySensor[sensorId] = list = [];
        }

        list.Add(item);
    }

    private static NpgsqlBatchCommand Command(string sql, DateTimeOffset from, DateTimeOffset to, string? sensorId)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.Add(new NpgsqlParameter { Value = from });
        command.Parameters.Add(new NpgsqlParameter { Value = to });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)sensorId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        return command;
    }
}
