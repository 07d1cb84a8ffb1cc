using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// An import that meets another transaction writing the same sensor's heartbeats keeps the interval histogram exact, and
/// its lock on the sensor's row keeps no alert for the sensor from being raised; imports share the
/// histogram's import shard without deadlocking.
/// </summary>
public sealed class HeartbeatImportConcurrencyTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task An_import_waiting_for_another_writer_of_its_sensor_counts_its_intervals_among_that_writers_heartbeats()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(An_import_waiting_for_another_writer_of_its_sensor_counts_its_intervals_among_that_writers_heartbeats));
        var t0 = HeartbeatTimes.ToStoredPrecision(DateTimeOffset.UtcNow.AddHours(-1));
        // One heartbeat, checkpointed: nothing in the histogram yet (no interval ends at or before the checkpoint).
        var sensorId = await InsertSensorAsync(connectionString, checkpointed: true, t0);

        // Another writer of the sensor (an import of another silo) holds its row and stores heartbeats 10 s and 20 s on.
        await using var other = new NpgsqlConnection(connectionString);
        await other.OpenAsync();
        await using var otherTransaction = await other.BeginTransactionAsync();
        await using (var write = new NpgsqlCommand("SELECT id FROM sensor WHERE id = $1 FOR NO KEY UPDATE", other, otherTransaction))
        {
            write.Parameters.AddWithValue(sensorId);
            await write.ExecuteNonQueryAsync();
        }

        await using (var write = new NpgsqlCommand(
            "INSERT INTO heartbeat (sensor_id, received_at) VALUES ($1, $2), ($1, $3)", other, otherTransaction))
        {
            write.Parameters.AddWithValue(sensorId);
            write.Parameters.AddWithValue(t0.AddSeconds(10));
            write.Parameters.AddWithValue(t0.AddSeconds(20));
            await write.ExecuteNonQueryAsync();
        }

        // This import puts a heartbeat between those two, and has to wait for the other writer.
        await using var db = NpgsqlDataSource.Create(connectionString);
        await using var import = await new HeartbeatImport(db).OpenAsync(CancellationToken.None);
        var imported = import.WriteAsync([new PastHeartbeat(sensorId, t0.AddSeconds(15), null)], CancellationToken.None);
        await WaitUntilBlockedByAsync(connectionString, other.ProcessID, imported);
        await otherTransaction.CommitAsync();
        Assert.Equal(1, (await imported).Imported);

        // Worked out by hand: heartbeats at 0, 10, 15, 20 s; the import moved the checkpoint to 15 s, so the histogram
        // holds the intervals ending at or before it: 10 s and 5 s.
        Assert.Equal(3, await Sql.ScalarAsync(connectionString, "SELECT heartbeat_count FROM sensor WHERE id = $1", sensorId));
        Assert.Equal(
            await Sql.TextAsync(connectionString, """
                SELECT string_agg(bucket || ':' || n, ' ' ORDER BY bucket)
                FROM (SELECT heartbeat_interval_bucket(s) AS bucket, count(*) AS n FROM unnest(ARRAY[10.0, 5.0]::float8[]) AS s GROUP BY 1) AS b
                """),
            await HistogramAsync(connectionString));
    }

    [Fact]
    public async Task An_alert_is_raised_for_a_sensor_without_waiting_for_an_import_batch_of_that_sensor()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(An_alert_is_raised_for_a_sensor_without_waiting_for_an_import_batch_of_that_sensor));
        var t0 = HeartbeatTimes.ToStoredPrecision(DateTimeOffset.UtcNow.AddHours(-1));
        var sensorId = await InsertSensorAsync(connectionString, checkpointed: false, t0);

        // Another transaction holds every row of the import shard of the interval histogram, so the import stops where it
        // adds its changes there, with the sensor's row locked.
        await using var other = new NpgsqlConnection(connectionString);
        await other.OpenAsync();
        await using var otherTransaction = await other.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand(
            "INSERT INTO heartbeat_interval_histogram (shard, bucket, intervals) SELECT 0, b, 0 FROM generate_series(0, 255) AS b", other, otherTransaction))
        {
            await hold.ExecuteNonQueryAsync();
        }

        await using var db = NpgsqlDataSource.Create(connectionString);
        await using var import = await new HeartbeatImport(db).OpenAsync(CancellationToken.None);
        var imported = import.WriteAsync([new PastHeartbeat(sensorId, t0.AddMinutes(1), null)], CancellationToken.None);
        await WaitUntilBlockedByAsync(connectionString, other.ProcessID, imported);

        // An alert's insert (as the silence sweep's raise) checks its sensor's row with a foreign-key lock, which must not
        // wait for the batch.
        PostgresException? waited = null;
        try
        {
            await using var raise = new NpgsqlConnection(connectionString);
            await raise.OpenAsync();
            await using var insert = new NpgsqlCommand("""
                SET lock_timeout = '5s';
                INSERT INTO alert (sensor_id, kind, silent_since, raised_at) VALUES (@sensor, 'silent', now(), now());
                """, raise);
            insert.Parameters.AddWithValue("sensor", sensorId);
            await insert.ExecuteNonQueryAsync();
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            waited = e;
        }
        finally
        {
            Assert.False(imported.IsCompleted);
            await otherTransaction.RollbackAsync();
        }

        Assert.Equal(1, (await imported).Imported);
        Assert.True(waited is null, "The alert waited for the import batch's lock on the sensor's row.");
        Assert.Equal(1, await Sql.ScalarAsync(connectionString, "SELECT count(*) FROM alert WHERE sensor_id = $1", sensorId));
    }

    [Fact]
    public async Task Imports_of_different_sensors_take_the_histograms_rows_in_one_order_and_never_deadlock()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(Imports_of_different_sensors_take_the_histograms_rows_in_one_order_and_never_deadlock));
        var t0 = HeartbeatTimes.ToStoredPrecision(DateTimeOffset.UtcNow.AddHours(-1));
        // Checkpointed at 0 s, with a heartbeat at 10 s past it. Importing one at 100 s changes two buckets of the import
        // shard: the 90 s interval it adds and the 10 s one its new checkpoint passes.
        var sensorId = await InsertSensorAsync(connectionString, checkpointed: true, t0, t0.AddSeconds(10));
        var ten = await Sql.ScalarAsync(connectionString, "SELECT heartbeat_interval_bucket(10)");
        var ninety = await Sql.ScalarAsync(connectionString, "SELECT heartbeat_interval_bucket(90)");
        Assert.True(ten < ninety);

        // Another import (of another sensor) has taken the 10 s bucket's row and will take the 90 s one's next.
        await using var other = new NpgsqlConnection(connectionString);
        await other.OpenAsync();
        await using var otherTransaction = await other.BeginTransactionAsync();
        await using (var take = new NpgsqlCommand("INSERT INTO heartbeat_interval_histogram (shard, bucket, intervals) VALUES (0, $1, 0)", other, otherTransaction))
        {
            take.Parameters.AddWithValue((short)ten);
            await take.ExecuteNonQueryAsync();
        }

        await using var db = NpgsqlDataSource.Create(connectionString);
        await using var import = await new HeartbeatImport(db).OpenAsync(CancellationToken.None);
        var imported = import.WriteAsync([new PastHeartbeat(sensorId, t0.AddSeconds(100), null)], CancellationToken.None);
        await WaitUntilBlockedByAsync(connectionString, other.ProcessID, imported);

        // Had the import taken the 90 s row before waiting for the 10 s one, this would deadlock and one of the two fail.
        await using (var take = new NpgsqlCommand("""
            INSERT INTO heartbeat_interval_histogram AS h (shard, bucket, intervals) VALUES (0, $1, 0)
            ON CONFLICT (shard, bucket) DO UPDATE SET intervals = h.intervals + excluded.intervals
            """, other, otherTransaction))
        {
            take.Parameters.AddWithValue((short)ninety);
            await take.ExecuteNonQueryAsync();
        }

        await otherTransaction.CommitAsync();
        Assert.Equal(1, (await imported).Imported);
        Assert.Equal(3, await Sql.ScalarAsync(connectionString, "SELECT heartbeat_count FROM sensor WHERE id = $1", sensorId));
        Assert.Equal($"{ten}:1 {ninety}:1", await HistogramAsync(connectionString));
    }

    /// <summary>
    /// A sensor with <paramref name="heartbeats"/> stored; when <paramref name="checkpointed"/>, its checkpoint holds the
    /// first of them (counted once, no interval ending at or before it).
    /// </summary>
    private static Task<long> InsertSensorAsync(string connectionString, bool checkpointed, params DateTimeOffset[] heartbeats) =>
        Sql.ScalarAsync(connectionString, """
            WITH s AS (INSERT INTO sensor (name, token_hash, first_heartbeat_at, last_heartbeat_at, heartbeat_count)
                       SELECT 'imported', 'sha256:x', first, first, CASE WHEN first IS NULL THEN 0 ELSE 1 END
                       FROM (SELECT CASE WHEN $2 THEN $1[1] END AS first) AS f
                       RETURNING id),
                 h AS (INSERT INTO heartbeat (sensor_id, received_at) SELECT id, at FROM s, unnest($1) AS at)
            SELECT id FROM s
            """, heartbeats, checkpointed);

    /// <summary>The interval histogram summed over its shards, as "bucket:intervals" in bucket order (empty buckets left out).</summary>
    private static Task<string?> HistogramAsync(string connectionString) => Sql.TextAsync(connectionString, """
        SELECT string_agg(bucket || ':' || n, ' ' ORDER BY bucket)
        FROM (SELECT bucket, sum(intervals) AS n FROM heartbeat_interval_histogram GROUP BY bucket HAVING sum(intervals) <> 0) AS b
        """);

    /// <summary>Completes once the import's session waits for <paramref name="holder"/>'s, or fails if the import ends first.</summary>
    private static async Task WaitUntilBlockedByAsync(string connectionString, int holder, Task imported)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await Sql.ScalarAsync(connectionString,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND $1 = ANY (pg_blocking_pids(pid))", holder) == 0)
        {
            Assert.False(imported.IsCompleted, "The import ended without waiting for the sensor's other writer.");
            await Task.Delay(TimeSpan.FromMilliseconds(20), deadline.Token);
        }
    }
}
