using Npgsql;
using Sensors360.Grains.Dashboard;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Dashboard;

/// <summary>
/// The statements that scan the whole fleet every few seconds (the dashboard's count, the silence sweep's overdue
/// read) are never JIT-compiled: PostgreSQL's estimate of them is high enough to compile them on every call.
/// </summary>
public sealed class WholeFleetStatementTests
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

        // Without its own setting the read is compiled (the control), with it not: in both, every sensor is overdue.
        await using (var connection = await db.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await using (var on = new NpgsqlCommand("SET LOCAL jit = on", connection, transaction))
            {
                await on.ExecuteNonQueryAsync();
            }

            await using var plain = new NpgsqlCommand(
                "SELECT count(*) FROM sensor s WHERE s.created_at + interval '1 minute' <= $1 AND NOT EXISTS (SELECT 1 FROM heartbeat h WHERE h.sensor_id = s.id)",
                connection, transaction);
            plain.Parameters.AddWithValue(later);
            Assert.Equal((long)Sensors, await plain.ExecuteScalarAsync());
        }

        Assert.True(await CompiledFunctionsAsync(connectionString, "%FROM sensor s WHERE s.created_at%") > 0, "PostgreSQL did not JIT-compile a plain scan of sensor.");
        await ResetStatisticsAsync(connectionString);

        await using (var connection = await db.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            var overdue = await SensorStore.ReadOverdueAsync(connection, transaction, later, TimeSpan.FromMinutes(1), 100, CancellationToken.None);
            Assert.Equal(Sensors, overdue.Count);
        }

        Assert.Equal(0, await CompiledFunctionsAsync(connectionString, "%c.silent_since%"));
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
