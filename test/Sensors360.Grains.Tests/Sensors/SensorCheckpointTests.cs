using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>The checkpoint statement's handling of rows it cannot move: one the database refuses, one another transaction holds.</summary>
public sealed class SensorCheckpointTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task A_refused_row_is_dropped_alone_and_a_held_row_is_kept_for_the_next_period_while_the_rest_are_written()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(A_refused_row_is_dropped_alone_and_a_held_row_is_kept_for_the_next_period_while_the_rest_are_written));
        var t0 = HeartbeatTimes.ToStoredPrecision(DateTimeOffset.UtcNow.AddHours(-1));
        // Four sensors with two heartbeats a minute apart, none checkpointed. "refused" claims a first heartbeat a day
        // later than the last one the checkpoint would write, which the table's check refuses.
        await Sql.ScalarAsync(connectionString, """
            WITH s AS (INSERT INTO sensor (name, token_hash, first_heartbeat_at)
                       SELECT name, 'sha256:x', CASE WHEN name = 'refused' THEN $1 + interval '1 day' END
                       FROM unnest(ARRAY['a', 'b', 'refused', 'held']) AS name RETURNING id)
            INSERT INTO heartbeat (sensor_id, received_at) SELECT id, $1 + k * interval '1 minute' FROM s CROSS JOIN generate_series(0, 1) AS k
            """, t0);
        var ids = new Dictionary<string, long>();
        foreach (var name in new[] { "a", "b", "refused", "held" })
        {
            ids[name] = await Sql.ScalarAsync(connectionString, "SELECT id FROM sensor WHERE name = $1", name);
        }

        await using var db = NpgsqlDataSource.Create(connectionString);
        using var standalone = new StandaloneCheckpoint(db);
        var checkpoint = standalone.Checkpoint;
        foreach (var id in ids.Values)
        {
            checkpoint.Note(id, after: null, t0.AddMinutes(1), 2);
        }

        // Another transaction (an import) holds "held".
        await using (var other = new NpgsqlConnection(connectionString))
        {
            await other.OpenAsync();
            await using var holding = await other.BeginTransactionAsync();
            await using (var hold = new NpgsqlCommand("SELECT id FROM sensor WHERE id = $1 FOR NO KEY UPDATE", other, holding))
            {
                hold.Parameters.AddWithValue(ids["held"]);
                await hold.ExecuteNonQueryAsync();
            }

            await checkpoint.WriteAsync(CancellationToken.None);

            Assert.Equal("a 2, b 2, held 0, refused 0", await CountsAsync(connectionString));
            Assert.Equal(2, await Sql.ScalarAsync(connectionString, "SELECT sum(intervals)::bigint FROM heartbeat_interval_histogram"));
            Assert.Equal(1, checkpoint.Pending);
            await holding.RollbackAsync();
        }

        // The next period writes the held one; the refused one is not tried again.
        await checkpoint.WriteAsync(CancellationToken.None);

        Assert.Equal("a 2, b 2, held 2, refused 0", await CountsAsync(connectionString));
        Assert.Equal(3, await Sql.ScalarAsync(connectionString, "SELECT sum(intervals)::bigint FROM heartbeat_interval_histogram"));
        Assert.Equal(0, checkpoint.Pending);
    }

    private static Task<string?> CountsAsync(string connectionString) => Sql.TextAsync(connectionString,
        "SELECT string_agg(name || ' ' || heartbeat_count, ', ' ORDER BY name) FROM sensor");
}
