using System.Net;
using Npgsql;
using Sensors360.Server.Database;
using Sensors360.Server.Tests.Sensors;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Database;

/// <summary>
/// The server run with least privilege: an owner role (not a superuser) applies the schema through the
/// server's <c>migrate</c> command, and the server then runs as a plain login role without DDL rights.
/// </summary>
public sealed class LeastPrivilegeTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(90);

    private static int s_roleCounter;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Migrated_by_the_owner_role_the_server_runs_as_a_role_that_cannot_change_the_schema()
    {
        var (owner, runtime, database) = await CreateRolesAndDatabaseAsync("leastprivilege");
        var ownerConnection = ConnectionStringAs(database, owner);
        var runtimeConnection = ConnectionStringAs(database, runtime);

        await using (var migrate = ServerProcess.Start(ownerConnection, "migrate",
            new Dictionary<string, string?> { ["Sensors360__Database__RuntimeRole"] = runtime }, arguments: ["migrate"]))
        {
            Assert.True(await migrate.WaitForExitAsync(ExitTimeout) == 0, string.Join('\n', migrate.Output));
        }

        Assert.Equal(0, await Sql.ScalarAsync(ownerConnection, "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1) AND (rolsuper OR rolcreaterole OR rolcreatedb)", (object)new[] { owner, runtime }));
        Assert.Equal(owner, await ScalarTextAsync(ownerConnection, "SELECT tableowner FROM pg_tables WHERE tablename = 'sensor'"));

        await using var server = ServerProcess.Start(runtimeConnection, "leastprivilege", new Dictionary<string, string?>
        {
            ["Sensors360__Database__ApplyOrleansScript"] = "false",
            ["Sensors360__Database__ApplyMigrations"] = "false",
        });
        await server.WaitUntilReadyAsync();

        using var operatorClient = await server.LoginAsync();
        var (_, token) = await SensorClient.ProvisionAsync(operatorClient, "boiler-least-1");
        using (var heartbeat = await SensorClient.HeartbeatAsync(server.Http, "boiler-least-1", token, """{"metrics":{"battery":0.9}}"""))
        {
            Assert.Equal(HttpStatusCode.NoContent, heartbeat.StatusCode);
        }

        Assert.Equal(1, await Sql.ScalarAsync(ownerConnection, "SELECT heartbeat_count FROM sensor_status_rebuilt WHERE name = 'boiler-least-1'"));

        // The role the server ran as has no DDL rights...
        Assert.Equal(0, await Sql.ScalarAsync(runtimeConnection, "SELECT count(*) FROM (SELECT 1 WHERE has_schema_privilege(current_user, 'public', 'CREATE') OR has_database_privilege(current_user, current_database(), 'CREATE')) AS granted"));
        var denied = await Assert.ThrowsAsync<PostgresException>(() => Sql.ScalarAsync(runtimeConnection, "CREATE TABLE ddl_probe (x integer)"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);
        var alter = await Assert.ThrowsAsync<PostgresException>(() => Sql.ScalarAsync(runtimeConnection, "ALTER TABLE sensor ADD COLUMN ddl_probe integer"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, alter.SqlState);

        // ...yet keeps the heartbeat partitions ahead: the function creates them as its owner.
        await Sql.ScalarAsync(runtimeConnection, "SELECT ensure_heartbeat_partitions('2091-03-01T00:00:00Z'::timestamptz, 0)");
        Assert.Equal(owner, await ScalarTextAsync(ownerConnection, "SELECT tableowner FROM pg_tables WHERE tablename = 'heartbeat_2091_03'"));
        Assert.Equal(1, await Sql.ScalarAsync(runtimeConnection, "SELECT count(*) FROM (SELECT 1 WHERE has_table_privilege('heartbeat_2091_03', 'SELECT')) AS granted"));

        // ...and archives and drops an old month, which it may not drop itself: the drop function does it as the owner.
        await Sql.ScalarAsync(runtimeConnection, "SELECT ensure_heartbeat_partitions('2020-03-01T00:00:00Z'::timestamptz, 0)");
        await Sql.ScalarAsync(runtimeConnection, "INSERT INTO heartbeat (sensor_id, received_at) SELECT id, '2020-03-05T00:00:00Z' FROM sensor WHERE name = 'boiler-least-1'");
        var drop = await Assert.ThrowsAsync<PostgresException>(() => Sql.ScalarAsync(runtimeConnection, "DROP TABLE heartbeat_2020_03"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, drop.SqlState);
        var archive = Directory.CreateTempSubdirectory("sensors360-archive-");
        try
        {
            await using var runtimeDb = NpgsqlDataSource.Create(runtimeConnection);
            var retention = new HeartbeatRetention(runtimeDb,
                Microsoft.Extensions.Options.Options.Create(new RetentionOptions { ArchiveDirectory = archive.FullName }),
                TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<HeartbeatRetention>.Instance);
            var run = await retention.RunAsync(Cancel);
            Assert.True(run.Outcome == RetentionOutcome.Done, run.Failure);
            Assert.Equal(1, Assert.Single(run.Archived).Rows);
            Assert.Equal(0, await Sql.ScalarAsync(ownerConnection, "SELECT count(*) FROM pg_tables WHERE tablename = 'heartbeat_2020_03'"));
        }
        finally
        {
            archive.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_server_told_not_to_migrate_refuses_a_database_without_the_migrations_with_one_clear_line()
    {
        var (_, runtime, database) = await CreateRolesAndDatabaseAsync("nomigrations");
        await using var server = ServerProcess.Start(ConnectionStringAs(database, runtime), "nomigrations", new Dictionary<string, string?>
        {
            ["Sensors360__Database__ApplyOrleansScript"] = "false",
            ["Sensors360__Database__ApplyMigrations"] = "false",
        });

        Assert.NotEqual(0, await server.WaitForExitAsync(ExitTimeout));
        var all = string.Join('\n', server.Output);
        var line = Assert.Single(server.Output, line => line.Contains("build.ps1 migrate", StringComparison.Ordinal));
        Assert.Contains("0001_sensors_heartbeats_alerts_users", line, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Output, output => output.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.False(string.IsNullOrEmpty(all));
    }

    /// <summary>An owner role owning a new database, and a plain login role; neither is a superuser.</summary>
    private async Task<(string Owner, string Runtime, string Database)> CreateRolesAndDatabaseAsync(string purpose)
    {
        var n = Interlocked.Increment(ref s_roleCounter);
        var (owner, runtime, database) = ($"{purpose}_owner_{n}", $"{purpose}_app_{n}", $"{purpose}_{n}_{Guid.NewGuid():N}"[..40]);
        await using var connection = new NpgsqlConnection(postgres.AdminConnectionString);
        await connection.OpenAsync(Cancel);
        // One statement per command: CREATE DATABASE refuses to run inside a (multi-statement) transaction.
        foreach (var statement in new[]
        {
            $"""CREATE ROLE "{owner}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE""",
            $"""CREATE ROLE "{runtime}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE""",
            $"""CREATE DATABASE "{database}" OWNER "{owner}" """,
        })
        {
            await using var create = new NpgsqlCommand(statement, connection);
            await create.ExecuteNonQueryAsync(Cancel);
        }
        return (owner, runtime, database);
    }

    private string ConnectionStringAs(string database, string role) =>
        new NpgsqlConnectionStringBuilder(postgres.ConnectionStringFor(database)) { Username = role }.ConnectionString;

    private static async Task<string?> ScalarTextAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Cancel);
        await using var command = new NpgsqlCommand(sql, connection);
        return (string?)await command.ExecuteScalarAsync(Cancel);
    }
}
