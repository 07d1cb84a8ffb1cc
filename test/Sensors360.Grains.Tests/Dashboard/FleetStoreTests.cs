using Npgsql;
using Sensors360.Grains.Dashboard;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Dashboard;

/// <summary>The dashboard grain's fleet-wide reads.</summary>
public sealed class FleetStoreTests
{
    [Fact]
    public async Task The_fleet_count_is_never_JIT_compiled_even_where_PostgreSQL_would_compile_it()
    {
        // A durable cluster, because it loads pg_stat_statements, which says how many functions each statement compiled.
        await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(FleetStoreTests));
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            // Every statement above zero cost is compiled from here on, so the fleet's size does not decide the test.
            await using var settings = new NpgsqlCommand($"""
                CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
                ALTER DATABASE "{connection.Database}" SET jit = on;
                ALTER DATABASE "{connection.Database}" SET jit_above_cost = 0;
                INSERT INTO sensor (name, token_hash) SELECT 'jit-' || g, 'sha256:x' FROM generate_series(1, 50) AS g;
                """, connection);
            await settings.ExecuteNonQueryAsync();
            // The database's settings apply to new sessions only: none of the pooled ones may be reused.
            NpgsqlConnection.ClearPool(connection);
        }

        // The same statement on a plain connection is compiled: JIT is available here, so the test below can fail.
        Assert.Equal(50, await Sql.ScalarAsync(connectionString, FleetStore.FleetStatement));
        Assert.True(await CompiledFunctionsAsync(connectionString) > 0, "PostgreSQL did not JIT-compile the fleet count on a plain connection.");
        await Sql.ScalarAsync(connectionString, "SELECT count(*) FROM (SELECT pg_stat_statements_reset()) AS reset");

        await using var db = NpgsqlDataSource.Create(connectionString);
        var fleet = await new FleetStore(db).ReadAsync(CancellationToken.None);

        Assert.Equal((50, 50), (fleet.Sensors.Total, fleet.Sensors.Pending));
        Assert.Equal(0, await CompiledFunctionsAsync(connectionString));
    }

    private static Task<long> CompiledFunctionsAsync(string connectionString) => Sql.ScalarAsync(connectionString, """
        SELECT coalesce(sum(jit_functions), 0)::bigint FROM pg_stat_statements WHERE query LIKE '%FROM sensor_status%' AND query NOT LIKE '%pg_stat_statements%'
        """);
}
