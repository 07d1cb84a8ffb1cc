using Npgsql;
using Sensors360.Grains.Dashboard;
using Sensors360.Grains.Sensors;
using Sensors360.Grains.Tests.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests;

/// <summary>
/// The statements that scan the whole fleet every few seconds (the dashboard's count, the silence sweep's overdue
/// read, a cursor) and an import's batch are never JIT-compiled: PostgreSQL's estimate of them is high enough to
/// compile them on every call, which they cannot pay back.
/// </summary>
public sealed class JitTests
{
    private const int Sensors = 50;

    [Fact]
    public async Task The_fleet_count_is_never_JIT_compiled_even_where_PostgreSQL_would_compile_it()
    {
        await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
        var connectionString = await JitEverywhereAsync(postgres, nameof(The_fleet_count_is_never_JIT_compiled_even_where_PostgreSQL_would_compile_it));

        // The same statement on a plain connection is compiled: JIT is available here, so the test below can fail.
        Assert.Equal(Sensors, await Sql.ScalarAsync(connectionString, FleetStore.FleetStatement));
        Assert.True(await CompiledFunctionsAsync(connectionString, "%FROM sensor_status%") > 0, "PostgreSQL did not JIT-compile the fleet count on a plain connection.");
        await ResetStatisticsAsync(connectionString);

        await using var db = NpgsqlDataSource.Create(connectionString);
        var fleet = await new FleetStore(db).ReadAsync(CancellationToken.None);

        Assert.Equal((Sensors, Sensors), (fleet.Sensors.Total, fleet.Sensors.Pending));
        Assert.Equal(0, await CompiledFunctionsAsync(connectionString, "%FROM sensor_status%"));
    }

    [Fact]
    public async Task The_sweeps_overdue_read_is_never_JIT_compiled_even_where_PostgreSQL_would_compile_it()
    {
        await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
        var connectionString = await JitEverywhereAsync(postgres, nameof(The_sweeps_overdue_read_is_never_JIT_compiled_even_where_PostgreSQL_would_compile_it));
        await using var db = NpgsqlDataSource.Create(connectionString);
        var later = DateTimeOffset.UtcNow.AddDays(1);

        // The read is a cursor, which pg_stat_statements does not see into: auto_explain reports each plan as it ends,
        // with a "JIT:" section when it was compiled. The control: a plain cursor over the same table is compiled here.
        var control = await CursorPlansAsync(db, async (connection, transaction) =>
        {
            await using var declare = new NpgsqlCommand("DECLARE control NO SCROLL CURSOR FOR SELECT id FROM sensor s WHERE s.created_at + interval '1 minute' <= $1", connection, transaction);
            declare.Parameters.AddWithValue(later);
            await declare.ExecuteNonQueryAsync();
            await using var fetch = new NpgsqlCommand("FETCH ALL FROM control", connection, transaction);
            await fetch.ExecuteNonQueryAsync();
        });
        Assert.Contains(control, plan => plan.Contains("DECLARE control", StringComparison.Ordinal) && plan.Contains("JIT:", StringComparison.Ordinal));

        var overdue = 0;
        var sweep = await CursorPlansAsync(db, async (connection, transaction) =>
        {
            var backlog = await SensorStore.OpenOverdueAsync(connection, transaction, later, TimeSpan.FromMinutes(1), CancellationToken.None);
            overdue = (await backlog.ReadAsync(1_000, CancellationToken.None)).Count;
        });

        Assert.Equal(Sensors, overdue);
        var plan = Assert.Single(sweep, plan => plan.Contains("c.silent_since", StringComparison.Ordinal));
        Assert.DoesNotContain("JIT:", plan, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_import_batch_is_never_JIT_compiled_even_where_PostgreSQL_would_compile_it()
    {
        await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
        var connectionString = await JitEverywhereAsync(postgres, nameof(An_import_batch_is_never_JIT_compiled_even_where_PostgreSQL_would_compile_it));
        var sensorId = await Sql.ScalarAsync(connectionString, "SELECT min(id) FROM sensor");

        await AssertPlainStatementsAreCompiledAsync(connectionString);

        await using var db = NpgsqlDataSource.Create(connectionString);
        var start = HeartbeatTimes.ToStoredPrecision(DateTimeOffset.UtcNow.AddDays(-1));
        await using var import = await new HeartbeatImport(db).OpenAsync(CancellationToken.None);
        // Twice: history into an empty sensor, then history among what the first batch stored.
        var first = await import.WriteAsync([.. Enumerable.Range(0, 10).Select(i => new PastHeartbeat(sensorId, start.AddMinutes(2 * i), null))], CancellationToken.None);
        var among = await import.WriteAsync([.. Enumerable.Range(0, 10).Select(i => new PastHeartbeat(sensorId, start.AddMinutes((2 * i) + 1), null))], CancellationToken.None);

        Assert.Equal((10, 10), (first.Imported, among.Imported));
        Assert.Equal(0, await CompiledFunctionsAsync(connectionString, "%heartbeat_import%"));
    }

    [Fact]
    public async Task The_checkpoint_is_never_JIT_compiled_even_where_PostgreSQL_would_compile_it()
    {
        await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
        var connectionString = await JitEverywhereAsync(postgres, nameof(The_checkpoint_is_never_JIT_compiled_even_where_PostgreSQL_would_compile_it));
        await AssertPlainStatementsAreCompiledAsync(connectionString);

        // Three heartbeats a minute apart for every sensor, none of them checkpointed yet.
        var start = HeartbeatTimes.ToStoredPrecision(DateTimeOffset.UtcNow.AddMinutes(-10));
        await Sql.ScalarAsync(connectionString, """
            WITH stored AS (
                INSERT INTO heartbeat (sensor_id, received_at)
                SELECT s.id, $1 + k * interval '1 minute' FROM sensor s CROSS JOIN generate_series(0, 2) AS k RETURNING 1)
            SELECT count(*) FROM stored
            """, start);
        var ids = await SensorIdsAsync(connectionString);
        await using var db = NpgsqlDataSource.Create(connectionString);
        using var standalone = new StandaloneCheckpoint(db);
        var checkpoint = standalone.Checkpoint;
        foreach (var id in ids)
        {
            checkpoint.Note(id, after: null, start.AddMinutes(2), 3);
        }

        await checkpoint.WriteAsync(CancellationToken.None);

        Assert.Equal(3 * Sensors, await Sql.ScalarAsync(connectionString, "SELECT sum(heartbeat_count)::bigint FROM sensor"));
        Assert.Equal(2 * Sensors, await Sql.ScalarAsync(connectionString, "SELECT sum(intervals)::bigint FROM heartbeat_interval_histogram"));
        Assert.Equal(0, await CompiledFunctionsAsync(connectionString, "%heartbeat_intervals_ending%"));
    }

    /// <summary>
    /// The control of the tests that run the product's own statements: a plain statement on the heartbeat table is
    /// compiled in this database, so a test that finds nothing compiled can fail. Then the statistics start afresh.
    /// </summary>
    private static async Task AssertPlainStatementsAreCompiledAsync(string connectionString)
    {
        Assert.Equal(0, await Sql.ScalarAsync(connectionString, "SELECT count(*) FROM heartbeat WHERE sensor_id > $1", 0L));
        Assert.True(await CompiledFunctionsAsync(connectionString, "%FROM heartbeat WHERE sensor_id%") > 0, "PostgreSQL did not JIT-compile a plain statement.");
        await ResetStatisticsAsync(connectionString);
    }

    private static async Task<List<long>> SensorIdsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id FROM sensor ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new List<long>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    /// <summary>The plans auto_explain reports (as notices) for what <paramref name="run"/> does in one transaction, up to its commit.</summary>
    private static async Task<List<string>> CursorPlansAsync(NpgsqlDataSource db, Func<NpgsqlConnection, NpgsqlTransaction, Task> run)
    {
        var plans = new List<string>();
        await using var connection = await db.OpenConnectionAsync();
        connection.Notice += (_, notice) => plans.Add(notice.Notice.MessageText);
        await using (var explain = new NpgsqlCommand(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_level = 'notice'", connection))
        {
            await explain.ExecuteNonQueryAsync();
        }

        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await run(connection, transaction);
            await transaction.CommitAsync();
        }

        return plans;
    }

    /// <summary>A database of <see cref="Sensors"/> sensors in which PostgreSQL JIT-compiles every statement, whatever its cost.</summary>
    private static async Task<string> JitEverywhereAsync(ThrowawayPostgres postgres, string purpose)
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, purpose);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var settings = new NpgsqlCommand($"""
            CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
            ALTER DATABASE "{connection.Database}" SET jit = on;
            ALTER DATABASE "{connection.Database}" SET jit_above_cost = 0;
            INSERT INTO sensor (name, token_hash) SELECT 'jit-' || g, 'sha256:x' FROM generate_series(1, {Sensors}) AS g;
            """, connection);
        await settings.ExecuteNonQueryAsync();
        // The database's settings apply to new sessions only: none of the pooled ones may be reused.
        NpgsqlConnection.ClearPool(connection);
        return connectionString;
    }

    private static Task<long> ResetStatisticsAsync(string connectionString) =>
        Sql.ScalarAsync(connectionString, "SELECT count(*) FROM (SELECT pg_stat_statements_reset()) AS reset");

    private static Task<long> CompiledFunctionsAsync(string connectionString, string like) => Sql.ScalarAsync(connectionString, """
        SELECT coalesce(sum(jit_functions), 0)::bigint FROM pg_stat_statements WHERE query LIKE $1 AND query NOT LIKE '%pg_stat_statements%'
        """, like);
}
