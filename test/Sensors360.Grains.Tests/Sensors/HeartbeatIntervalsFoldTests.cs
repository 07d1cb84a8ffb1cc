using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// The fold of old checkpoint shards of the interval histogram into the import shard
/// (<see cref="HeartbeatIntervals.FoldShardsAsync"/>), against histograms worked out by hand.
/// </summary>
public sealed class HeartbeatIntervalsFoldTests(ThrowawayPostgres postgres)
{
    // Shard 0 is the import shard; 7 and 8 are stopped silos' shards; 9 is the folding silo's own; 11 a running silo's.
    private const string Histogram = "(0,10,5),(7,10,3),(7,20,2),(8,20,1),(8,30,4),(9,30,4),(11,40,6)";

    [Fact]
    public async Task The_other_shards_move_into_the_import_shard_bucket_by_bucket_and_a_held_row_waits_for_the_next_fold()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(The_other_shards_move_into_the_import_shard_bucket_by_bucket_and_a_held_row_waits_for_the_next_fold));
        await SeedAsync(connectionString);
        await using var db = NpgsqlDataSource.Create(connectionString);

        await using (var running = new NpgsqlConnection(connectionString))
        {
            await running.OpenAsync();
            await using var writing = await running.BeginTransactionAsync();
            // A running silo's checkpoint adding to its own shard holds the row.
            await using (var hold = new NpgsqlCommand("UPDATE heartbeat_interval_histogram SET intervals = intervals + 1 WHERE shard = 11", running, writing))
            {
                await hold.ExecuteNonQueryAsync();
            }

            Assert.Equal(4, await HeartbeatIntervals.FoldShardsAsync(db, [9], CancellationToken.None));
            Assert.Equal("(0,10,8),(0,20,3),(0,30,4),(9,30,4),(11,40,6)", await RowsAsync(connectionString));
            await writing.CommitAsync();
        }

        Assert.Equal(1, await HeartbeatIntervals.FoldShardsAsync(db, [9], CancellationToken.None));
        Assert.Equal("(0,10,8),(0,20,3),(0,30,4),(0,40,7),(9,30,4)", await RowsAsync(connectionString));
        Assert.Equal(0, await HeartbeatIntervals.FoldShardsAsync(db, [9], CancellationToken.None));
    }

    [Fact]
    public async Task An_import_holding_the_import_shard_makes_the_fold_give_up_without_changing_anything()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(An_import_holding_the_import_shard_makes_the_fold_give_up_without_changing_anything));
        await SeedAsync(connectionString);
        await using var db = NpgsqlDataSource.Create(connectionString);

        await using (var import = new NpgsqlConnection(connectionString))
        {
            await import.OpenAsync();
            await using var importing = await import.BeginTransactionAsync();
            await using (var hold = new NpgsqlCommand("UPDATE heartbeat_interval_histogram SET intervals = intervals + 1 WHERE shard = 0 AND bucket = 10", import, importing))
            {
                await hold.ExecuteNonQueryAsync();
            }

            // Bounded only so that a fold that waited for the import would fail here rather than hang the run.
            Assert.Null(await HeartbeatIntervals.FoldShardsAsync(db, [9], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));

            // Nothing moved, and the fold holds none of the rows it had taken: another transaction takes them at once.
            await using var other = new NpgsqlConnection(connectionString);
            await other.OpenAsync();
            await using var taking = await other.BeginTransactionAsync();
            await using var take = new NpgsqlCommand("SELECT count(*) FROM (SELECT 1 FROM heartbeat_interval_histogram WHERE shard IN (7, 8) FOR UPDATE NOWAIT) AS taken", other, taking);
            Assert.Equal(4L, await take.ExecuteScalarAsync());
            await importing.RollbackAsync();
        }

        Assert.Equal(Histogram, await RowsAsync(connectionString));
        Assert.Equal(5, await HeartbeatIntervals.FoldShardsAsync(db, [9], CancellationToken.None));
        Assert.Equal("(0,10,8),(0,20,3),(0,30,4),(0,40,6),(9,30,4)", await RowsAsync(connectionString));
    }

    [Fact]
    public async Task A_starting_silo_folds_what_the_silos_before_it_left()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(A_starting_silo_folds_what_the_silos_before_it_left));
        await SeedAsync(connectionString);
        await using var db = NpgsqlDataSource.Create(connectionString);
        // A clock that never moves: no checkpoint period passes, so only the start can have folded.
        using var standalone = new StandaloneCheckpoint(db, new FakeTimeProvider());
        var checkpoint = standalone.Checkpoint;

        await checkpoint.StartAsync(CancellationToken.None);
        try
        {
            await Eventually.TrueAsync(
                async () => await Sql.ScalarAsync(connectionString, "SELECT count(*) FROM heartbeat_interval_histogram WHERE shard <> 0") == 0,
                TimeSpan.FromSeconds(30), "every shard but the import shard folded");
        }
        finally
        {
            await checkpoint.StopAsync(CancellationToken.None);
        }

        Assert.Equal("(0,10,8),(0,20,3),(0,30,8),(0,40,6)", await RowsAsync(connectionString));
    }

    private static Task<long> SeedAsync(string connectionString) => Sql.ScalarAsync(connectionString,
        $"WITH seeded AS (INSERT INTO heartbeat_interval_histogram (shard, bucket, intervals) VALUES {Histogram} RETURNING 1) SELECT count(*) FROM seeded");

    private static Task<string?> RowsAsync(string connectionString) => Sql.TextAsync(connectionString,
        "SELECT string_agg(format('(%s,%s,%s)', shard, bucket, intervals), ',' ORDER BY shard, bucket) FROM heartbeat_interval_histogram");
}
