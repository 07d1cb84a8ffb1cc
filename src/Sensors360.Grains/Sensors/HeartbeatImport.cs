using Npgsql;
using NpgsqlTypes;

namespace Sensors360.Grains.Sensors;

/// <summary>One heartbeat from the past, ready to store: its sensor's internal id, its time at <see cref="HeartbeatTimes.ToStoredPrecision"/>, its normalized metrics.</summary>
public readonly record struct PastHeartbeat(long SensorId, DateTimeOffset At, string? MetricsJson);

/// <summary>A sensor as an import needs it: its internal id, and its retirement (heartbeats after it are refused).</summary>
public readonly record struct ImportTarget(long Id, DateTimeOffset? RetiredAt);

/// <summary>What one committed batch stored: new heartbeats, ones already stored (duplicates), and how many each sensor gained.</summary>
public sealed record ImportedBatch(int Imported, int Duplicates, IReadOnlyDictionary<string, long> ImportedBySensor);

/// <summary>
/// The SQL of heartbeat history (<c>POST /api/import/heartbeats</c> and a sensor's buffered heartbeats).
/// Unlike <see cref="HeartbeatLog"/>, which appends the present in small group commits, history comes in
/// large batches that may repeat what is stored and reach months without a partition, so each batch is one
/// transaction of a binary COPY into a temporary table, one <c>INSERT ... ON CONFLICT DO NOTHING</c> into
/// <c>heartbeat</c>, and the counters of the sensors from exactly what was inserted.
/// </summary>
public sealed class HeartbeatImport(NpgsqlDataSource db)
{
    /// <summary>
    /// The advisory lock under which heartbeat partitions are created, by the import and by the server's
    /// daily <c>HeartbeatPartitions</c> alike. Defined here because the import lives below the server;
    /// the server's <c>AdvisoryLocks</c> lists it with the others.
    /// </summary>
    public const long PartitionLockKey = 0x5345_4E53_3336_3002;

    /// <summary>A connection kept for a whole import, with what it learned about sensors and partitions.</summary>
    public async Task<Session> OpenAsync(CancellationToken cancellationToken) =>
        new(await db.OpenConnectionAsync(cancellationToken));

    /// <summary>Stores one batch on a connection of its own (a sensor's buffered heartbeats).</summary>
    public async Task<ImportedBatch> WriteAsync(IReadOnlyList<PastHeartbeat> batch, CancellationToken cancellationToken)
    {
        await using var session = await OpenAsync(cancellationToken);
        return await session.WriteAsync(batch, cancellationToken);
    }

    /// <summary>One import's connection. Not thread-safe: an import reads and writes one batch at a time.</summary>
    public sealed class Session : IAsyncDisposable
    {
        private readonly NpgsqlConnection _connection;
        private readonly HashSet<DateTime> _monthsReady = [];
        private bool _stagingCreated;

        internal Session(NpgsqlConnection connection) => _connection = connection;

        /// <summary>
        /// Adds to <paramref name="known"/> every one of <paramref name="names"/> it does not hold yet: its
        /// target, or null for a name no sensor has (so it is not asked for again).
        /// </summary>
        public async Task LookUpAsync(IEnumerable<string> names, Dictionary<string, ImportTarget?> known, CancellationToken cancellationToken)
        {
            var missing = names.Where(name => !known.ContainsKey(name)).Distinct(StringComparer.Ordinal).ToArray();
            if (missing.Length == 0)
            {
                return;
            }

            foreach (var name in missing)
            {
                known[name] = null;
            }

            await using var command = new NpgsqlCommand("SELECT id, name, retired_at FROM sensor WHERE name = ANY ($1)", _connection);
            command.Parameters.AddWithValue(missing);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                known[reader.GetString(1)] = new ImportTarget(
                    reader.GetInt64(0), reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2));
            }
        }

        /// <summary>Stores the batch in one transaction; heartbeats already stored (same sensor and time) are counted, not stored again.</summary>
        public async Task<ImportedBatch> WriteAsync(IReadOnlyList<PastHeartbeat> batch, CancellationToken cancellationToken)
        {
            if (batch.Count == 0)
            {
                return new ImportedBatch(0, 0, new Dictionary<string, long>());
            }

            await EnsurePartitionsAsync(batch, cancellationToken);
            if (!_stagingCreated)
            {
                // Temporary, so it lives and dies with this connection and no other import sees it; emptied at each commit.
                await using var create = new NpgsqlCommand("""
                    CREATE TEMP TABLE IF NOT EXISTS heartbeat_import (sensor_id bigint NOT NULL, received_at timestamptz NOT NULL, metrics jsonb)
                    ON COMMIT DELETE ROWS;
                    CREATE TEMP TABLE IF NOT EXISTS heartbeat_import_span (
                        sensor_id bigint PRIMARY KEY, lo timestamptz NOT NULL, hi timestamptz NOT NULL,
                        first_at timestamptz NOT NULL, last_at timestamptz NOT NULL, mixed boolean NOT NULL)
                    ON COMMIT DELETE ROWS;
                    """ + HeartbeatIntervals.CreateImportChangesSql, _connection);
                await create.ExecuteNonQueryAsync(cancellationToken);
                _stagingCreated = true;
            }

            await using var transaction = await _connection.BeginTransactionAsync(cancellationToken);
            await Jit.OffForTransactionAsync(_connection, transaction, cancellationToken);
            await using (var copy = await _connection.BeginBinaryImportAsync(
                "COPY heartbeat_import (sensor_id, received_at, metrics) FROM STDIN (FORMAT BINARY)", cancellationToken))
            {
                foreach (var heartbeat in batch)
                {
                    await copy.StartRowAsync(cancellationToken);
                    await copy.WriteAsync(heartbeat.SensorId, NpgsqlDbType.Bigint, cancellationToken);
                    await copy.WriteAsync(heartbeat.At, NpgsqlDbType.TimestampTz, cancellationToken);
                    if (heartbeat.MetricsJson is { } metrics)
                    {
                        await copy.WriteAsync(metrics, NpgsqlDbType.Jsonb, cancellationToken);
                    }
                    else
                    {
                        await copy.WriteNullAsync(cancellationToken);
                    }
                }

                await copy.CompleteAsync(cancellationToken);
            }

            // The sensors' rows are locked from here (in id order, as the checkpoint locks them) until the commit: another
            // import of the same sensors commits first, so the spans below are read with its heartbeats in them, and no
            // checkpoint moves between what the histogram leaves out before the insert and after it. NO KEY UPDATE, so
            // the foreign-key check of an alert's insert (KEY SHARE; the silence sweep's raise) does not wait for the batch.
            await using (var lockSensors = new NpgsqlCommand(
                "SELECT id FROM sensor WHERE id IN (SELECT sensor_id FROM heartbeat_import) ORDER BY id FOR NO KEY UPDATE", _connection, transaction))
            {
                await lockSensors.ExecuteNonQueryAsync(cancellationToken);
            }

            // Each sensor's span: from the stored heartbeat before its first new one to the stored one after its
            // last, and whether stored heartbeats lie among the new ones (mixed). Two probes of the key each.
            await using (var spans = new NpgsqlCommand("""
                INSERT INTO heartbeat_import_span (sensor_id, lo, hi, first_at, last_at, mixed)
                SELECT i.sensor_id, i.lo,
                       CASE WHEN i.next_at <= i.last_at
                            THEN coalesce((SELECT min(h.received_at) FROM heartbeat h WHERE h.sensor_id = i.sensor_id AND h.received_at > i.last_at), i.last_at)
                            ELSE coalesce(i.next_at, i.last_at) END,
                       i.first_at, i.last_at, coalesce(i.next_at <= i.last_at, false)
                FROM (SELECT b.sensor_id, b.first_at, b.last_at,
                             coalesce((SELECT max(h.received_at) FROM heartbeat h WHERE h.sensor_id = b.sensor_id AND h.received_at < b.first_at), b.first_at) AS lo,
                             (SELECT min(h.received_at) FROM heartbeat h WHERE h.sensor_id = b.sensor_id AND h.received_at >= b.first_at) AS next_at
                      FROM (SELECT sensor_id, min(received_at) AS first_at, max(received_at) AS last_at FROM heartbeat_import GROUP BY sensor_id) AS b) AS i
                """, _connection, transaction))
            {
                await spans.ExecuteNonQueryAsync(cancellationToken);
            }

            // Spans with no stored heartbeat among the new ones (history before or after what is stored, or in a
            // gap) change the histogram by what the new heartbeats and their two neighbours say alone.
            await using (var between = HeartbeatIntervals.CountBetweenNeighboursCommand("heartbeat_import", "heartbeat_import_span", _connection, transaction))
            {
                await between.ExecuteNonQueryAsync(cancellationToken);
            }

            // The other spans: their intervals are taken out now and counted again once the new ones are in.

            await using (var takeOut = HeartbeatIntervals.RecountSpansCommand("heartbeat_import_span", -1, _connection, transaction))
            {
                await takeOut.ExecuteNonQueryAsync(cancellationToken);
            }

            // The histogram holds the intervals up to each sensor's checkpoint: those past it are counted in for the
            // span changes above and below to apply to, and taken out again past the checkpoint the insert moves.
            await using (var pastCheckpoint = HeartbeatIntervals.CountPastCheckpointCommand("heartbeat_import_span", 1, _connection, transaction))
            {
                await pastCheckpoint.ExecuteNonQueryAsync(cancellationToken);
            }

            // The counters come from what was inserted, so a duplicate (already stored, or twice in the body)
            // counts once. least/greatest ignore the NULLs of a sensor without heartbeats. Sorted so the
            // primary key is filled in its own order. Moving the checkpoint (SensorCheckpoint) to the last imported
            // heartbeat also counts the stored heartbeats it passes that no checkpoint counted yet (the subqueries
            // see the table as it was before this insert), so every heartbeat up to the checkpoint stays counted.
            await using var insert = new NpgsqlCommand("""
                WITH inserted AS (
                    INSERT INTO heartbeat (sensor_id, received_at, metrics)
                    SELECT sensor_id, received_at, metrics FROM heartbeat_import ORDER BY sensor_id, received_at
                    ON CONFLICT (sensor_id, received_at) DO NOTHING
                    RETURNING sensor_id, received_at),
                per_sensor AS (
                    SELECT sensor_id, min(received_at) AS first_at, max(received_at) AS last_at, count(*) AS n
                    FROM inserted GROUP BY sensor_id)
                UPDATE sensor AS s
                SET first_heartbeat_at = least(s.first_heartbeat_at, p.first_at,
                        CASE WHEN s.first_heartbeat_at IS NULL
                             THEN (SELECT min(h.received_at) FROM heartbeat h WHERE h.sensor_id = s.id AND h.received_at <= p.last_at) END),
                    last_heartbeat_at = greatest(s.last_heartbeat_at, p.last_at),
                    heartbeat_count = s.heartbeat_count + p.n
                        + (SELECT count(*) FROM heartbeat h
                           WHERE h.sensor_id = s.id AND h.received_at > coalesce(s.last_heartbeat_at, '-infinity') AND h.received_at <= p.last_at)
                FROM per_sensor p
                WHERE s.id = p.sensor_id
                RETURNING s.name, p.n
                """, _connection, transaction);
            var bySensor = new Dictionary<string, long>(StringComparer.Ordinal);
            await using (var reader = await insert.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    bySensor[reader.GetString(0)] = reader.GetInt64(1);
                }
            }

            await using (var countIn = HeartbeatIntervals.RecountSpansCommand("heartbeat_import_span", 1, _connection, transaction))
            {
                await countIn.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var pastMoved = HeartbeatIntervals.CountPastCheckpointCommand("heartbeat_import_span", -1, _connection, transaction))
            {
                await pastMoved.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var apply = HeartbeatIntervals.ApplyImportChangesCommand(_connection, transaction))
            {
                await apply.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            var imported = (int)bySensor.Values.Sum();
            return new ImportedBatch(imported, batch.Count - imported, bySensor);
        }

        /// <summary>
        /// Creates the monthly partitions the batch reaches and lacks, before it is inserted, so history lands
        /// in its month rather than in <c>heartbeat_default</c>. PostgreSQL cannot create a month whose rows
        /// already sit in the default partition (the new range would overlap them); such a month is left to the
        /// default partition, where its rows stay correct, only less cheap to prune (docs/database.md).
        /// </summary>
        private async Task EnsurePartitionsAsync(IReadOnlyList<PastHeartbeat> batch, CancellationToken cancellationToken)
        {
            var months = new HashSet<DateTime>();
            foreach (var heartbeat in batch)
            {
                var at = heartbeat.At.UtcDateTime;
                var month = new DateTime(at.Year, at.Month, 1, 0, 0, 0, DateTimeKind.Utc);
                if (!_monthsReady.Contains(month))
                {
                    months.Add(month);
                }
            }

            if (months.Count == 0)
            {
                return;
            }

            var starts = months.Order().ToArray();
            await using var transaction = await _connection.BeginTransactionAsync(cancellationToken);
            // The same lock as the daily partition job: creators take turns instead of racing for one table.
            await using (var take = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", _connection, transaction))
            {
                take.Parameters.AddWithValue(PartitionLockKey);
                await take.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var ensure = new NpgsqlCommand("""
                SELECT ensure_heartbeat_partitions(m.start_at, 0)
                FROM unnest($1::timestamptz[], $2::timestamptz[]) AS m (start_at, end_at)
                WHERE to_regclass(format('heartbeat_%s', to_char(m.start_at AT TIME ZONE 'UTC', 'YYYY_MM'))) IS NULL
                  AND NOT EXISTS (SELECT 1 FROM heartbeat_default d WHERE d.received_at >= m.start_at AND d.received_at < m.end_at)
                """, _connection, transaction))
            {
                ensure.Parameters.AddWithValue(starts.Select(start => new DateTimeOffset(start)).ToArray());
                ensure.Parameters.AddWithValue(starts.Select(start => new DateTimeOffset(start.AddMonths(1))).ToArray());
                await ensure.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            _monthsReady.UnionWith(starts);
        }

        public ValueTask DisposeAsync() => _connection.DisposeAsync();
    }
}
