using System.Diagnostics;
using System.Text.Json;
using Npgsql;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Database;

/// <summary>
/// <c>build.ps1 backup</c> and <c>restore</c> as an operator runs them (<c>dotnet pwsh build.ps1 ...</c> from the
/// repository, with <c>ConnectionStrings__Postgres</c>): a database backed up, wiped and restored holds the same rows,
/// and a server started on it has its operators, sensors and tokens.
/// </summary>
public sealed class BackupRestoreTests(ThrowawayPostgres postgres, ITestOutputHelper output)
{
    private static readonly string[] CountedTables =
        ["app_user", "sensor", "heartbeat", "alert", "audit_event", "heartbeat_interval_histogram", "orleans_reminder", "schemaversions"];

    [Fact]
    public async Task A_backup_restored_into_a_wiped_database_has_the_same_rows_and_a_working_server()
    {
        var db = await postgres.CreateDatabaseAsync("backup");
        var serviceId = $"backup-{Guid.NewGuid():N}";
        string adminPassword;
        var tokens = new Dictionary<string, string>();
        await using (var server = ServerProcess.Start(db, serviceId))
        {
            await server.WaitUntilReadyAsync();
            adminPassword = server.AdminPassword;
            using var admin = await server.LoginAsync();
            foreach (var id in (string[])["backup-a", "backup-b"])
            {
                tokens[id] = (await ProvisionAsync(admin, id, new { id, silenceThresholdSeconds = 86400 })).Token;
                for (var i = 0; i < 3; i++)
                {
                    await StoredHeartbeatAsync(server.Http, id, tokens[id]);
                }
            }

            // Stopped, so the counts stand still between the backup and the comparison.
            await server.StopAsync();
        }

        var before = await CountAsync(db);
        Assert.Equal(6, before["heartbeat"]);
        var directory = Directory.CreateTempSubdirectory("sensors360-backup-");
        try
        {
            var backup = await BuildScriptAsync(db, "backup", "-To", directory.FullName);
            Assert.True(backup.ExitCode == 0, backup.Output);
            using (var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(directory.FullName, "manifest.json"))))
            {
                var tables = manifest.RootElement.GetProperty("tables");
                Assert.All(CountedTables, table => Assert.Equal(before[table], tables.GetProperty(table).GetInt64()));
                Assert.StartsWith("15", manifest.RootElement.GetProperty("serverVersion").GetString(), StringComparison.Ordinal);
            }

            await WipeAsync(db);
            Assert.Equal(0, await Sql.ScalarAsync(db, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"));

            var restore = await BuildScriptAsync(db, "restore", "-From", directory.FullName);
            Assert.True(restore.ExitCode == 0, restore.Output);
            Assert.Equal(before, await CountAsync(db));

            // A database that holds tables is not restored over without -Force.
            var again = await BuildScriptAsync(db, "restore", "-From", directory.FullName);
            Assert.NotEqual(0, again.ExitCode);
            Assert.Contains("-Force", again.Output, StringComparison.Ordinal);
            Assert.Equal(before, await CountAsync(db));

            // With -Force it is replaced by the backup (here: the same rows again).
            await Sql.ScalarAsync(db, "DELETE FROM heartbeat");
            var forced = await BuildScriptAsync(db, "restore", "-From", directory.FullName, "-Force");
            Assert.True(forced.ExitCode == 0, forced.Output);
            Assert.Equal(before, await CountAsync(db));
        }
        finally
        {
            directory.Delete(recursive: true);
        }

        // The restored database serves: the admin logs in with the password it had, sees the sensors, and a sensor's token works.
        await using var restored = ServerProcess.Start(db, $"restored-{Guid.NewGuid():N}", new Dictionary<string, string?>
        {
            ["Sensors360__Cluster__ServiceId"] = serviceId,
        }, adminPassword: adminPassword);
        await restored.WaitUntilReadyAsync();
        using var operatorClient = await restored.LoginAsync();
        var listed = JsonDocument.Parse(await operatorClient.GetStringAsync(new Uri("/api/sensors", UriKind.Relative))).RootElement;
        var ids = listed.GetProperty("items").EnumerateArray().Select(sensor => sensor.GetProperty("id").GetString()).ToList();
        Assert.Contains("backup-a", ids);
        Assert.Contains("backup-b", ids);
        await StoredHeartbeatAsync(restored.Http, "backup-a", tokens["backup-a"]);

        var sensor = JsonDocument.Parse(await operatorClient.GetStringAsync(new Uri("/api/sensors/backup-a", UriKind.Relative))).RootElement;
        Assert.Equal(4, sensor.GetProperty("heartbeatCount").GetInt64());
    }

    private static async Task<Dictionary<string, long>> CountAsync(string db)
    {
        var counts = new Dictionary<string, long>();
        foreach (var table in CountedTables)
        {
            counts[table] = await Sql.ScalarAsync(db, $"SELECT count(*) FROM {table}");
        }

        return counts;
    }

    /// <summary>Drops the database and creates it again, empty, as after losing it.</summary>
    private async Task WipeAsync(string db)
    {
        NpgsqlConnection.ClearAllPools();
        var name = new NpgsqlConnectionStringBuilder(db).Database!;
        await using var connection = new NpgsqlConnection(postgres.AdminConnectionString);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE \"{name}\" WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await create.ExecuteNonQueryAsync();
    }

    /// <summary>Runs <c>dotnet pwsh build.ps1 &lt;arguments&gt;</c> in the repository against <paramref name="db"/>.</summary>
    private async Task<(int ExitCode, string Output)> BuildScriptAsync(string db, params string[] arguments)
    {
        var root = RepositoryRoot();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["pwsh", "-NoProfile", "-NonInteractive", "-File", Path.Combine(root, "build.ps1"), .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["ConnectionStrings__Postgres"] = db;
        start.Environment[PostgresBinaries.BinDirectoryVariable] = PostgresBinaries.Find();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet pwsh.");
        var standardOutput = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var standardError = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        var text = $"build.ps1 {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{await standardOutput}\n{await standardError}";
        output.WriteLine(text);
        return (process.ExitCode, text);
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "build.ps1")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No build.ps1 above {AppContext.BaseDirectory}: the tests run from the repository's test/ folder.");
    }
}
