using DbUp;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Database;
using Sensors360.Server.Tests.Sensors;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Database;

/// <summary>
/// Schema 0017 applied to a database that silos of the version before filled: their histogram counted every stored
/// interval, and the migration takes out those past each sensor's checkpoint, which the next checkpoint counts again.
/// </summary>
public sealed class IntervalHistogramUpgradeTests(ThrowawayPostgres postgres)
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Upgrading_a_populated_database_keeps_the_intervals_up_to_each_checkpoint_and_the_next_checkpoint_counts_the_rest_once()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(IntervalHistogramUpgradeTests));
        ApplyMigrationsBefore0017(database);

        // Heartbeats on both sides of the last month's start, so they lie in two partitions, all in the past.
        var now = DateTimeOffset.UtcNow;
        var month = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(-1);
        await Sql.ScalarAsync(database, "SELECT count(*) FROM (SELECT ensure_heartbeat_partitions($1, 3)) AS p", month.AddMonths(-1));
        var tokens = new Dictionary<string, string>();
        var hourBefore = month.AddHours(-1);
        // Each sensor: its heartbeats (seconds after its start) and its checkpoint (the index of the last heartbeat
        // counted; -1 when never checkpointed).
        await AddSensorAsync(database, tokens, "up-a", hourBefore, [0, 10, 70, 200], checkpoint: 2);
        await AddSensorAsync(database, tokens, "up-b", month.AddMinutes(-30), [0, 30], checkpoint: -1);
        await AddSensorAsync(database, tokens, "up-c", month.AddSeconds(-20), [0, 10, 70, 130], checkpoint: 1);
        await AddSensorAsync(database, tokens, "up-d", hourBefore, [0, 600], checkpoint: 1);

        // What the silos before 0017 wrote: every stored interval, in each writer's shard.
        double[] stored = [10, 60, 130, 30, 10, 60, 60, 600];
        for (var i = 0; i < stored.Length; i++)
        {
            await Sql.ScalarAsync(database, """
                WITH added AS (
                    INSERT INTO heartbeat_interval_histogram AS h (shard, bucket, intervals)
                    VALUES ($1, heartbeat_interval_bucket($2), 1)
                    ON CONFLICT (shard, bucket) DO UPDATE SET intervals = h.intervals + 1
                    RETURNING 1)
                SELECT count(*) FROM added
                """, i % 2 == 0 ? 7 : 9, stored[i]);
        }

        Assert.Equal(await StoredIntervals.BucketsOfStoredAsync(database, tokens.Keys), await StoredIntervals.HistogramAsync(database));

        Assert.True(await PreparedDatabase.SetupFor(database).TryMigrateAsync(Cancel));

        // Worked out by hand: a's 10 and 60 s up to its checkpoint, c's 10 s before the month's start, d's 600 s;
        // a's 130 s, both of c's 60 s (past its checkpoint, in the new month) and all of b (never checkpointed) are out.
        Assert.Equal(await StoredIntervals.BucketsAsync(database, [10, 60, 10, 600]), await StoredIntervals.HistogramAsync(database));

        // The next checkpoint counts what was taken out, and the intervals of new heartbeats, each once.
        await using (var server = ServerProcess.Start(database, "histogram-upgrade"))
        {
            await server.WaitUntilReadyAsync();
            foreach (var (sensor, token) in tokens)
            {
                await StoredHeartbeatAsync(server.Http, sensor, token);
            }

            // A stop writes the checkpoint.
            await server.StopAsync();
        }

        // Every interval between stored heartbeats, from the rows: the eight above and one to each new heartbeat.
        Assert.Equal(12, await Sql.ScalarAsync(database, "SELECT sum(intervals)::bigint FROM heartbeat_interval_histogram"));
        Assert.Equal(await StoredIntervals.BucketsOfStoredAsync(database, tokens.Keys), await StoredIntervals.HistogramAsync(database));
    }

    /// <summary>The schema as the version before 0017 left it, through DbUp's journal, as the server applies it.</summary>
    private static void ApplyMigrationsBefore0017(string database)
    {
        var result = DeployChanges.To
            .PostgresqlDatabase(database)
            .WithScriptsEmbeddedInAssembly(typeof(DatabaseSetup).Assembly, name =>
                name.StartsWith("schema.", StringComparison.Ordinal) && string.CompareOrdinal(name, "schema.0017") < 0)
            .WithTransactionPerScript()
            .Build()
            .PerformUpgrade();
        Assert.True(result.Successful, result.Error?.Message);
        Assert.Equal(16, result.Scripts.Count());
    }

    private static async Task AddSensorAsync(
        string database, Dictionary<string, string> tokens, string name, DateTimeOffset start, int[] seconds, int checkpoint)
    {
        var token = SensorTokens.NewToken();
        tokens[name] = token;
        var times = seconds.Select(s => start.AddSeconds(s)).ToArray();
        await Sql.ScalarAsync(database, """
            WITH added AS (
                INSERT INTO sensor (name, token_hash, first_heartbeat_at, last_heartbeat_at, heartbeat_count)
                VALUES ($1, $2, $3, $4, $5) RETURNING id),
            beats AS (
                INSERT INTO heartbeat (sensor_id, received_at) SELECT added.id, t FROM added, unnest($6::timestamptz[]) AS t
                RETURNING 1)
            SELECT count(*) FROM beats
            """,
            name, SensorTokens.Hash(token),
            checkpoint < 0 ? DBNull.Value : times[0], checkpoint < 0 ? DBNull.Value : times[checkpoint], (long)(checkpoint + 1), times);
    }
}
