using System.Diagnostics;
using Npgsql;
using Xunit;

namespace Sensors360.Testing;

/// <summary>
/// A private PostgreSQL server started from the machine's server binaries in a temporary directory,
/// on a free port, and removed again when disposed. As root it runs as the <c>postgres</c> user,
/// since PostgreSQL refuses to run as root.
/// </summary>
public sealed class ThrowawayPostgres : IAsyncLifetime
{
    private static int s_databaseCounter;

    private readonly string _binDirectory = PostgresBinaries.Find();
    private DirectoryInfo? _root;

    public int Port { get; private set; }

    public bool IsRunning { get; private set; }

    private string DataDirectory => Path.Combine(_root!.FullName, "data");

    /// <summary>A connection string for the maintenance database <c>postgres</c>.</summary>
    public string AdminConnectionString => ConnectionStringFor("postgres");

    public string ConnectionStringFor(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = "postgres",
        Database = database,
        Pooling = true,
        MaxPoolSize = 30,
        Timeout = 5,
    }.ConnectionString;

    /// <summary>
    /// Durable servers keep PostgreSQL's defaults (fsync, full page writes, synchronous commit), as a user
    /// would run it; the benchmark needs that. Test servers skip flushing to disk, which no test can observe.
    /// </summary>
    public bool Durable { get; init; }

    /// <summary>
    /// PostgreSQL's <c>max_connections</c>: 400 so the suite's many servers never run short, or PostgreSQL's
    /// own default of 100 for tests that show the server keeps within it (the connection budget).
    /// </summary>
    public int MaxConnections { get; init; } = 400;

    /// <summary>Starts a server of its own (for tests that stop and restart the database, and the benchmark).</summary>
    public static async Task<ThrowawayPostgres> StartAsync(bool durable = false, int maxConnections = 400)
    {
        var postgres = new ThrowawayPostgres { Durable = durable, MaxConnections = maxConnections };
        await postgres.InitializeAsync();
        return postgres;
    }

    public async ValueTask InitializeAsync()
    {
        _root = Directory.CreateTempSubdirectory("sensors360-pg-");
        if (Environment.IsPrivilegedProcess)
        {
            await RunAsync("chown", ["postgres:postgres", _root.FullName], asPostgres: false);
        }

        await RunAsync(Path.Combine(_binDirectory, "initdb"),
            ["-D", DataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"]);
        Port = FreePort.Next();
        await StartServerAsync();
    }

    /// <summary>Starts the server again after <see cref="StopServerAsync"/>, on the same port and data.</summary>
    public async Task StartServerAsync()
    {
        // fsync off: test data need not survive a power cut, and it keeps the suite fast on slow disks.
        // Durable (benchmark) servers also track statements, so the benchmark can say where time goes.
        var flushing = Durable ? " -c shared_preload_libraries=pg_stat_statements" : " -c fsync=off -c full_page_writes=off";
        var settings = $"-p {Port} -k {_root!.FullName} -c listen_addresses=127.0.0.1 -c max_connections={MaxConnections}{flushing}";
        await RunAsync(Path.Combine(_binDirectory, "pg_ctl"),
            ["-D", DataDirectory, "-l", Path.Combine(_root.FullName, "server.log"), "-o", settings, "-w", "-t", "60", "start"]);
        IsRunning = true;
    }

    /// <summary>Stops the server at once, dropping connections, as a crash or an outage would.</summary>
    public async Task StopServerAsync()
    {
        await RunAsync(Path.Combine(_binDirectory, "pg_ctl"), ["-D", DataDirectory, "-m", "immediate", "-w", "stop"]);
        IsRunning = false;
    }

    /// <summary>Creates an empty database with a unique name and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string purpose)
    {
        var name = $"t{Interlocked.Increment(ref s_databaseCounter)}_{new string(purpose.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).Take(40).ToArray())}";
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await create.ExecuteNonQueryAsync();
        return ConnectionStringFor(name);
    }

    /// <summary>
    /// Alters one of this server's databases (<c>ALTER DATABASE name {alteration}</c>, e.g. <c>ALLOW_CONNECTIONS false</c>)
    /// and ends every session on it, so what its clients do next meets the change. From the maintenance database: a
    /// session on the altered one might not be able to alter it back.
    /// </summary>
    public async Task AlterDatabaseAsync(string connectionString, string alteration)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(AdminConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using (var alter = new NpgsqlCommand($"ALTER DATABASE \"{name}\" {alteration}", connection))
        {
            await alter.ExecuteNonQueryAsync();
        }

        await using var end = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1", connection);
        end.Parameters.AddWithValue(name!);
        await end.ExecuteScalarAsync();
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (IsRunning)
        {
            await StopServerAsync();
        }

        _root?.Delete(recursive: true);
    }

    private static async Task RunAsync(string program, IReadOnlyList<string> arguments, bool asPostgres = true)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asPostgres && Environment.IsPrivilegedProcess)
        {
            start.FileName = "runuser";
            foreach (var argument in (string[])["-u", "postgres", "--", program])
            {
                start.ArgumentList.Add(argument);
            }
        }
        else
        {
            start.FileName = program;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{Path.GetFileName(program)} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}: {await error} {await output}");
        }
    }
}
