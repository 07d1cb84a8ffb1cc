using Npgsql;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// The SQL of the <c>heartbeat_interval_histogram</c> table (schema/0008, 0017): every interval between two
/// consecutive heartbeats of a sensor is counted there once the sensor's checkpoint (<see cref="SensorCheckpoint"/>)
/// has passed the heartbeat that ends it, in the checkpoint's own statement, so the median and the 95th
/// percentile are read from a few hundred rows (the SQL function <c>heartbeat_interval_percentile</c>, which the
/// fleet aggregate calls) and stay within the checkpoint period, like the sensors' counters.
/// </summary>
public static class HeartbeatIntervals
{
    /// <summary>
    /// The shard history imports add to, and the old checkpoint shards are folded into (<see cref="FoldShardsAsync"/>);
    /// each silo's checkpoint takes random positive ones.
    /// </summary>
    public const int ImportShard = 0;

    /// <summary>A new shard for one silo's checkpoint: its rows are written by nobody else.</summary>
    public static int NewShard() => Random.Shared.Next(1, int.MaxValue);

    /// <summary>
    /// The temporary table an import transaction gathers its changes to the histogram in (<c>bucket, intervals</c>),
    /// emptied at each commit. The import applies them with one upsert, in bucket order
    /// (<see cref="ApplyImportChangesCommand"/>): imports running at once share the import shard, and each taking its
    /// rows in the same order, once, means none waits for a row while holding one the other waits for (a deadlock).
    /// </summary>
    public const string CreateImportChangesSql =
        "CREATE TEMP TABLE IF NOT EXISTS heartbeat_import_intervals (bucket smallint NOT NULL, intervals bigint NOT NULL) ON COMMIT DELETE ROWS";

    /// <summary>Adds the changes gathered in <c>heartbeat_import_intervals</c> to the import shard, in bucket order.</summary>
    public static NpgsqlCommand ApplyImportChangesCommand(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        var command = new NpgsqlCommand(AddToShardSql("$1", "heartbeat_import_intervals"), connection, transaction);
        command.Parameters.AddWithValue(ImportShard);
        return command;
    }

    /// <summary>
    /// The one upsert every writer of the histogram adds its changes with: <paramref name="changes"/> (a row source of
    /// <c>bucket, intervals</c>) summed by bucket into <paramref name="shard"/> (SQL: a parameter or a literal). In bucket
    /// order, so two writers of one shard (imports of shard 0, a fold) never each hold a row the other waits for.
    /// </summary>
    private static string AddToShardSql(string shard, string changes) => $"""
        INSERT INTO heartbeat_interval_histogram AS h (shard, bucket, intervals)
        SELECT {shard}, bucket, sum(intervals) FROM {changes}
        GROUP BY bucket HAVING sum(intervals) <> 0
        ORDER BY bucket
        ON CONFLICT (shard, bucket) DO UPDATE SET intervals = h.intervals + excluded.intervals
        """;

    /// <summary>
    /// How long a fold waits for each row of the import shard that another transaction holds (an import's last upsert,
    /// another fold) before it gives up. Short, because meanwhile it holds rows of live silos' shards, and their
    /// checkpoints (holding their sensors' rows) queue behind it. Imports of the version before the ordered upsert
    /// took shard 0's rows in no one order, so during a rolling upgrade one could wait for a row the fold holds.
    /// </summary>
    public static readonly TimeSpan FoldLockWait = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Moves every checkpoint shard's rows but those of <paramref name="keep"/> into the import shard, bucket by bucket,
    /// so the shards of silos that have stopped (each start takes new ones) do not pile up under the percentile's reads.
    /// Rows another transaction holds (a live silo's checkpoint adding to its shard) are left for the next fold; a
    /// live silo whose rows were folded writes new ones, holding only what it counts after the fold. Returns the rows
    /// folded, or null when another transaction held a row of the import shard past <see cref="FoldLockWait"/> and
    /// nothing changed.
    /// </summary>
    public static async Task<int?> FoldShardsAsync(NpgsqlDataSource db, IReadOnlyCollection<int> keep, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var shards = new List<int>();
        var buckets = new List<short>();
        await using (var lockRows = connection.CreateBatch())
        {
            lockRows.Transaction = transaction;
            var setLockWait = new NpgsqlBatchCommand("SELECT set_config('lock_timeout', $1, true)");
            setLockWait.Parameters.AddWithValue($"{(int)FoldLockWait.TotalMilliseconds}ms");
            lockRows.BatchCommands.Add(setLockWait);
            // Locked in a statement of its own, so the fold's statement starts after the locks and reads what they hold.
            var take = new NpgsqlBatchCommand(
                "SELECT shard, bucket FROM heartbeat_interval_histogram WHERE shard <> ALL ($1) ORDER BY shard, bucket FOR UPDATE SKIP LOCKED");
            take.Parameters.AddWithValue(keep.Append(ImportShard).ToArray());
            lockRows.BatchCommands.Add(take);
            await using var reader = await lockRows.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                shards.Add(reader.GetInt32(0));
                buckets.Add(reader.GetInt16(1));
            }
        }

        if (shards.Count == 0)
        {
            return 0;
        }

        await using var fold = new NpgsqlCommand($"""
            WITH folded AS (
                DELETE FROM heartbeat_interval_histogram AS h
                USING unnest($1::integer[], $2::smallint[]) AS t (shard, bucket)
                WHERE h.shard = t.shard AND h.bucket = t.bucket
                RETURNING h.bucket, h.intervals)
            {AddToShardSql("$3", "folded")}
            """, connection, transaction);
        fold.Parameters.AddWithValue(shards.ToArray());
        fold.Parameters.AddWithValue(buckets.ToArray());
        fold.Parameters.AddWithValue(ImportShard);
        try
        {
            await fold.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            return null;
        }

        await transaction.CommitAsync(cancellationToken);
        return shards.Count;
    }

    /// <summary>
    /// For the spans of <paramref name="spansTable"/> (<c>sensor_id, lo, hi, first_at, last_at, mixed</c>)
    /// that hold no stored heartbeat among the new ones (<c>NOT mixed</c>): counts, among the import's changes, the
    /// intervals between consecutive heartbeats among the new ones of <paramref name="newTable"/>
    /// (<c>sensor_id, received_at</c>) and the stored neighbours <c>lo</c> and <c>hi</c>, and takes out the
    /// interval from <c>lo</c> to <c>hi</c> that they split. No heartbeat is read.
    /// </summary>
    public static NpgsqlCommand CountBetweenNeighboursCommand(string newTable, string spansTable, NpgsqlConnection connection, NpgsqlTransaction transaction) =>
        new($"""
            INSERT INTO heartbeat_import_intervals (bucket, intervals)
            SELECT heartbeat_interval_bucket(d.gap), sum(d.n)
            FROM (SELECT date_part('epoch', p.at - lag(p.at) OVER (PARTITION BY p.sensor_id ORDER BY p.at)) AS gap, 1 AS n
                  FROM (SELECT i.sensor_id, i.received_at AS at FROM {newTable} i JOIN {spansTable} s ON s.sensor_id = i.sensor_id AND NOT s.mixed
                        UNION SELECT sensor_id, lo FROM {spansTable} WHERE NOT mixed
                        UNION SELECT sensor_id, hi FROM {spansTable} WHERE NOT mixed) AS p
                  UNION ALL
                  SELECT date_part('epoch', hi - lo), -1 FROM {spansTable} WHERE NOT mixed AND lo < first_at AND hi > last_at) AS d
            WHERE d.gap IS NOT NULL
            GROUP BY 1
            """, connection, transaction);

    /// <summary>
    /// Counts (<paramref name="sign"/> 1) or takes out (−1), among the import's changes, every interval between
    /// consecutive stored heartbeats of each sensor within its span of <paramref name="spansTable"/>, for the
    /// spans where new heartbeats fall among stored ones (<c>mixed</c>). An import takes out those intervals
    /// before it inserts and counts them again after, so the heartbeats it places among stored ones split
    /// their intervals exactly.
    /// </summary>
    public static NpgsqlCommand RecountSpansCommand(string spansTable, int sign, NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        var command = new NpgsqlCommand($"""
            INSERT INTO heartbeat_import_intervals (bucket, intervals)
            SELECT heartbeat_interval_bucket(g.gap), $1 * count(*)
            FROM (SELECT date_part('epoch', x.received_at - lag(x.received_at) OVER (PARTITION BY s.sensor_id ORDER BY x.received_at)) AS gap
                  FROM (SELECT * FROM {spansTable} WHERE mixed) AS s
                  -- Lateral: one walk of the primary key per sensor and span, never a scan of the table.
                  CROSS JOIN LATERAL (SELECT h.received_at FROM heartbeat h
                                      WHERE h.sensor_id = s.sensor_id AND h.received_at BETWEEN s.lo AND s.hi) AS x) AS g
            WHERE g.gap IS NOT NULL
            GROUP BY 1
            """, connection, transaction);
        command.Parameters.AddWithValue((long)sign);
        return command;
    }

    /// <summary>
    /// The upsert that counts (<paramref name="sign"/> <c>1</c>) or takes out (<c>-1</c>), in <paramref name="shard"/>,
    /// the intervals of each row of <paramref name="passes"/> (<c>sensor_id, after_at, upto</c>): those of the sensor
    /// that end after <c>after_at</c> and at or before <c>upto</c> (the SQL function <c>heartbeat_intervals_ending</c>,
    /// schema/0017, 0018). <c>after_at</c> is the sensor's checkpoint, always a heartbeat's time: the first interval
    /// starts there, whether or not retention has kept its row. Both arguments are SQL: a parameter or a literal, and
    /// a row source (a table or a subquery with its alias). A checkpoint that moves a sensor from <c>after_at</c> to <c>upto</c> counts with it what it passes.
    /// </summary>
    public static string CountPassedSql(string shard, string sign, string passes) =>
        AddToShardSql(shard, $"({PassedBucketsSql(sign, passes)}) AS passed");

    /// <summary>The buckets (<c>bucket, intervals</c>) of the intervals <paramref name="passes"/> pass, times <paramref name="sign"/>.</summary>
    private static string PassedBucketsSql(string sign, string passes) => $"""
        SELECT heartbeat_interval_bucket(i.seconds) AS bucket, {sign} * count(*) AS intervals
        FROM {passes}
        CROSS JOIN LATERAL heartbeat_intervals_ending(sensor_id, after_at, upto) AS i
        GROUP BY 1
        """;

    /// <summary>
    /// For an import: counts (<paramref name="sign"/> 1) or takes out (−1), among its changes, the intervals of each
    /// sensor of <paramref name="spansTable"/> that end past its checkpoint and at or before its span's <c>hi</c>.
    /// Those are the ones the histogram leaves out until a checkpoint passes them; an import adds them before it moves
    /// the checkpoint and takes them out after, so that the histogram again holds exactly the intervals up to the
    /// sensors' checkpoints (past <c>hi</c> nothing changes). The sensors' rows are locked first, so no checkpoint
    /// moves between the two. A span that ends at or before its sensor's checkpoint (history behind it, or
    /// a span whose end the insert made the checkpoint) has nothing past it, so it is not probed.
    /// </summary>
    public static NpgsqlCommand CountPastCheckpointCommand(string spansTable, int sign, NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        var command = new NpgsqlCommand("INSERT INTO heartbeat_import_intervals (bucket, intervals) " + PassedBucketsSql("$1", $"""
            (SELECT t.sensor_id, s.last_heartbeat_at AS after_at, t.hi AS upto
             FROM {spansTable} t JOIN sensor s ON s.id = t.sensor_id
             WHERE t.hi > coalesce(s.last_heartbeat_at, '-infinity')) AS passes
            """), connection, transaction);
        command.Parameters.AddWithValue((long)sign);
        return command;
    }
}
