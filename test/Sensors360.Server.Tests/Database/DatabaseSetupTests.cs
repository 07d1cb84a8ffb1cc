using Npgsql;
using Sensors360.Server.Database;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Database;

public sealed class DatabaseSetupTests(ThrowawayPostgres postgres)
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Applying_the_orleans_script_and_migrations_again_changes_nothing()
    {
        var connectionString = await postgres.CreateDatabaseAsync(nameof(Applying_the_orleans_script_and_migrations_again_changes_nothing));
        Assert.True(await PreparedDatabase.SetupFor(connectionString).TryPrepareAsync(Cancel));
        var first = await DescribeSchemaAsync(connectionString);

        Assert.True(await PreparedDatabase.SetupFor(connectionString).TryPrepareAsync(Cancel));
        Assert.Equal(first, await DescribeSchemaAsync(connectionString));

        // The bare script, as a DBA would apply it by hand, is just as harmless.
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync(Cancel);
            await using var apply = new NpgsqlCommand(DatabaseSetup.OrleansScript, connection);
            await apply.ExecuteNonQueryAsync(Cancel);
        }

        Assert.Equal(first, await DescribeSchemaAsync(connectionString));
    }

    [Fact]
    public async Task The_schema_has_the_orleans_queries_and_our_tables_each_with_a_primary_key()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(The_schema_has_the_orleans_queries_and_our_tables_each_with_a_primary_key));
        await using var dataSource = NpgsqlDataSource.Create(connectionString);

        var keys = await ListAsync(dataSource, "SELECT querykey FROM orleansquery");
        string[] required =
        [
            "InsertMembershipVersionKey", "MembershipReadRowKey", "MembershipReadAllKey", "InsertMembershipKey",
            "UpdateMembershipKey", "UpdateIAmAlivetimeKey", "GatewaysQueryKey", "DeleteMembershipTableEntriesKey",
            "CleanupDefunctSiloEntriesKey", "ReadFromStorageKey", "WriteToStorageKey", "ClearStorageKey",
            "ReadReminderRowsKey", "ReadReminderRowKey", "ReadRangeRows1Key", "ReadRangeRows2Key",
            "UpsertReminderRowKey", "DeleteReminderRowKey", "DeleteReminderRowsKey",
        ];
        Assert.Empty(required.Except(keys));

        var tables = await ListAsync(dataSource, """
            SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            """);
        Assert.Superset(new HashSet<string> { "sensor", "heartbeat", "alert", "app_user" }, tables.ToHashSet());
        var withoutKey = await ListAsync(dataSource, """
            SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')
              AND c.relname <> 'heartbeat_default'
            """);
        Assert.Empty(withoutKey);

        var partitions = await ListAsync(dataSource, "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'heartbeat'::regclass");
        Assert.Contains($"heartbeat_{DateTime.UtcNow:yyyy_MM}", partitions);
    }

    [Fact]
    public async Task Silos_starting_together_take_turns_and_both_succeed()
    {
        var connectionString = await postgres.CreateDatabaseAsync(nameof(Silos_starting_together_take_turns_and_both_succeed));

        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => PreparedDatabase.SetupFor(connectionString).TryPrepareAsync(Cancel)));

        Assert.All(results, Assert.True);
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var migrations = await ListAsync(dataSource, "SELECT scriptname FROM schemaversions");
        Assert.Equal(migrations.Distinct().Count(), migrations.Count);
        Assert.Contains(migrations, name => name.Contains("0001_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_orleans_script_can_be_switched_off()
    {
        var connectionString = await postgres.CreateDatabaseAsync(nameof(The_orleans_script_can_be_switched_off));

        Assert.True(await PreparedDatabase.SetupFor(connectionString, applyOrleansScript: false).TryPrepareAsync(Cancel));

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var tables = await ListAsync(dataSource, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')");
        Assert.DoesNotContain("orleansquery", tables);
        Assert.Contains("sensor", tables);
    }

    /// <summary>Everything a script could change: columns, constraints, indexes, functions, Orleans queries, applied migrations.</summary>
    private static async Task<string> DescribeSchemaAsync(string connectionString)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var lines = await ListAsync(dataSource, """
            SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
              FROM information_schema.columns WHERE table_schema = 'public'
            UNION ALL SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
              FROM pg_constraint WHERE connamespace = 'public'::regnamespace
            UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
            UNION ALL SELECT 'function ' || p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid))
              FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
            UNION ALL SELECT 'sequence ' || schemaname || '.' || sequencename || ' ' || coalesce(last_value, 0) FROM pg_sequences
            UNION ALL SELECT 'query ' || querykey || ' ' || md5(querytext) FROM orleansquery
            UNION ALL SELECT 'migration ' || scriptname FROM schemaversions
            """);
        return string.Join('\n', lines.Order(StringComparer.Ordinal));
    }

    private static async Task<List<string>> ListAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync(Cancel);
        var values = new List<string>();
        while (await reader.ReadAsync(Cancel))
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }
}
