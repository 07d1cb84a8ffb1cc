using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>An import that meets another transaction writing the same sensor's heartbeats keeps the interval histogram exact.</summary>
public sealed class HeartbeatImportConcurrencyTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task An_import_waiting_for_another_writer_of_its_sensor_counts_its_intervals_among_that_writers_heartbeats()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(An_import_waiting_for_another_writer_of_its_sensor_counts_its_intervals_among_that_writers_heartbeats));
        var t0 = HeartbeatTimes.ToStoredPrecision(DateTimeOffset.UtcNow.AddHours(-1));
        // One heartbeat, checkpointed: nothing in the histogram yet (no interval ends at or before the checkpoint).
        var sensorId = await Sql.ScalarAsync(connectionString, """
            WITH s AS (INSERT INTO sensor (name, token_hash, first_heartbeat_at, last_heartbeat_at, heartbeat_count)
                       VALUES ('raced', 'sha256:x', $1, $1, 1) RETURNING id),
                 h AS (INSERT INTO heartbeat (sensor_id, received_at) SELECT id, $1 FROM s)
            SELECT id FROM s
            """, t0);

        // Another writer of the sensor (an import of another silo) holds its row and stores heartbeats 10 s and 20 s on.
        await using var other = new NpgsqlConnection(connectionString);
        await other.OpenAsync();
        await using var otherTransaction = await other.BeginTransactionAsync();
        await using (var write = new NpgsqlCommand("""
            SELECT id FROM sensor WHERE id = $1 FOR UPDATE;
            """, other, otherTransaction))
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
        await WaitUntilALockIsAwaitedAsync(connectionString, imported);
        await otherTransaction.CommitAsync();
        Assert.Equal(1, (await imported).Imported);

        // Worked out by hand: heartbeats at 0, 10, 15, 20 s; the import moved the checkpoint to 15 s, so the histogram
        // holds the intervals ending at or before it: 10 s and 5 s.
        Assert.Equal(3, await Sql.ScalarAsync(connectionString, "SELECT heartbeat_count FROM sensor WHERE id = $1", sensorId));
        Assert.Equal(
            await Sql.TextAsync(connectionString, "SELECT string_agg(heartbeat_interval_bucket(s)::text, ',' ORDER BY heartbeat_interval_bucket(s)) FROM unnest(ARRAY[10.0, 5.0]::float8[]) AS s"),
            await Sql.TextAsync(connectionString, """
                SELECT string_agg(repeat(bucket::text || ',', n::int), '' ORDER BY bucket)
                FROM (SELECT bucket, sum(intervals) AS n FROM heartbeat_interval_histogram GROUP BY bucket HAVING sum(intervals) <> 0) AS b
                """) is { } found ? found.TrimEnd(',') : null);
    }

    /// <summary>Completes once some session waits for a lock (the import, on the sensor's row), or fails if the import ends first.</summary>
    private static async Task WaitUntilALockIsAwaitedAsync(string connectionString, Task imported)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await Sql.ScalarAsync(connectionString, "SELECT count(*) FROM pg_locks WHERE NOT granted") == 0)
        {
            Assert.False(imported.IsCompleted, "The import ended without waiting for the sensor's other writer.");
            await Task.Delay(TimeSpan.FromMilliseconds(20), deadline.Token);
        }
    }
}
