using Npgsql;
using NpgsqlTypes;

namespace Sensors360.Grains.Sensors;

/// <summary>One stored heartbeat: its receive time and its metrics as stored (a JSON object), or null.</summary>
public sealed record StoredHeartbeat(DateTimeOffset At, string? MetricsJson);

/// <summary>
/// One bucket of a series: its start, how many heartbeats (or readings of the metric) fell in it, and the
/// metric's min, max and mean there (null for the heartbeat series and for empty buckets).
/// </summary>
public sealed record SeriesBucket(DateTimeOffset At, long Count, double? Min, double? Max, double? Mean);

/// <summary>
/// Reads one sensor's past heartbeats for the API, straight from <c>heartbeat</c> (like <see cref="SensorDirectory"/>,
/// no grain is woken). Every query is bounded by <c>sensor_id = …</c> first, so it walks the primary key
/// <c>(sensor_id, received_at)</c> of the months in range and never touches other sensors' rows.
/// Time ranges are half-open: <c>from</c> inclusive, <c>to</c> exclusive.
/// </summary>
public sealed class HeartbeatHistory(NpgsqlDataSource db)
{
    // The sensor's internal id, and whether it exists, in the same round trip as the rows.
    private const string SensorIdOf = "(SELECT id FROM sensor WHERE name = $1)";

    /// <summary>
    /// Heartbeats newest first in [<paramref name="from"/>, <paramref name="to"/>), older than <paramref name="before"/>
    /// (the keyset cursor: the last time of the previous page); null when the sensor does not exist.
    /// </summary>
    public async Task<IReadOnlyList<StoredHeartbeat>?> ListAsync(
        string sensor, DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset? before, int limit, CancellationToken cancellationToken)
    {
        // Both the cursor and `to` are exclusive upper bounds, so the tighter one is the bound.
        DateTimeOffset? upper = (to, before) switch
        {
            ({ } t, { } b) => t < b ? t : b,
            _ => to ?? before,
        };

        // Bounds are left out of the text rather than passed as nulls, so the planner sees plain range
        // conditions and prunes the months outside them (a "$2 IS NULL OR ..." would keep every month).
        var conditions = $"sensor_id = {SensorIdOf}";
        if (from is not null)
        {
            conditions += " AND received_at >= $2";
        }

        if (upper is not null)
        {
            conditions += " AND received_at < $3";
        }

        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(SensorExists(sensor));
        var rows = new NpgsqlBatchCommand($"""
            SELECT received_at, metrics::text FROM heartbeat
            WHERE {conditions}
            ORDER BY received_at DESC
            LIMIT $4
            """);
        rows.Parameters.AddWithValue(sensor);
        rows.Parameters.Add(Instant(from));
        rows.Parameters.Add(Instant(upper));
        rows.Parameters.AddWithValue(limit);
        batch.BatchCommands.Add(rows);

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        await reader.NextResultAsync(cancellationToken);
        var page = new List<StoredHeartbeat>(limit);
        while (await reader.ReadAsync(cancellationToken))
        {
            page.Add(new StoredHeartbeat(reader.GetFieldValue<DateTimeOffset>(0), reader.IsDBNull(1) ? null : reader.GetString(1)));
        }

        return page;
    }

    /// <summary>
    /// <paramref name="buckets"/> buckets of <paramref name="bucketSeconds"/> each from <paramref name="from"/>, every one
    /// present (empty ones with count 0, so gaps are explicit), over heartbeats in [<paramref name="from"/>, <paramref name="to"/>).
    /// With a <paramref name="metric"/>, count and statistics are over the heartbeats that carried it as a number;
    /// without, count is the number of heartbeats. Null when the sensor does not exist.
    /// </summary>
    public async Task<IReadOnlyList<SeriesBucket>?> SeriesAsync(
        string sensor, string? metric, DateTimeOffset from, DateTimeOffset to, long bucketSeconds, int buckets, CancellationToken cancellationToken)
    {
        // Values are read only where jsonb says they are numbers, so a stray string never fails the cast;
        // date_bin with `from` as origin puts every row in the bucket the series below names.
        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(SensorExists(sensor));
        var series = new NpgsqlBatchCommand($"""
            WITH reading AS (
                SELECT date_bin(make_interval(secs => $4), received_at, $2) AS at,
                       CASE WHEN jsonb_typeof(metrics -> $5) = 'number' THEN (metrics ->> $5)::float8 END AS value
                FROM heartbeat
                WHERE sensor_id = {SensorIdOf} AND received_at >= $2 AND received_at < $3
            ), bucket AS (
                SELECT at, CASE WHEN $5::text IS NULL THEN count(*) ELSE count(value) END AS count,
                       min(value) AS min, max(value) AS max, avg(value) AS mean
                FROM reading
                GROUP BY at
            )
            SELECT slot.at, coalesce(bucket.count, 0), bucket.min, bucket.max, bucket.mean
            FROM generate_series(0, $6 - 1) AS n
            CROSS JOIN LATERAL (SELECT $2 + n * make_interval(secs => $4) AS at) AS slot
            LEFT JOIN bucket ON bucket.at = slot.at
            ORDER BY slot.at
            """);
        series.Parameters.AddWithValue(sensor);
        series.Parameters.Add(Instant(from));
        series.Parameters.Add(Instant(to));
        series.Parameters.Add(new NpgsqlParameter { Value = (double)bucketSeconds, NpgsqlDbType = NpgsqlDbType.Double });
        series.Parameters.Add(new NpgsqlParameter { Value = (object?)metric ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        series.Parameters.AddWithValue(buckets);
        batch.BatchCommands.Add(series);

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        await reader.NextResultAsync(cancellationToken);
        var points = new List<SeriesBucket>(buckets);
        while (await reader.ReadAsync(cancellationToken))
        {
            points.Add(new SeriesBucket(
                reader.GetFieldValue<DateTimeOffset>(0),
                reader.GetInt64(1),
                reader.IsDBNull(2) ? null : reader.GetDouble(2),
                reader.IsDBNull(3) ? null : reader.GetDouble(3),
                reader.IsDBNull(4) ? null : reader.GetDouble(4)));
        }

        return points;
    }

    private static NpgsqlBatchCommand SensorExists(string sensor)
    {
        var command = new NpgsqlBatchCommand("SELECT 1 FROM sensor WHERE name = $1");
        command.Parameters.AddWithValue(sensor);
        return command;
    }

    // Typed, so a bound left out of the text (null) still has a type PostgreSQL accepts.
    private static NpgsqlParameter Instant(DateTimeOffset? value) =>
        new() { Value = value is { } v ? v.ToUniversalTime() : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz };
}
