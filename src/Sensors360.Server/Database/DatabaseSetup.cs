using System.Net.Sockets;
using System.Reflection;
using DbUp;
using DbUp.Engine.Output;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Sensors360.Server.Database;

/// <summary>
/// Brings the database up to date at start: <c>orleans-postgres.sql</c>, then our versioned migrations
/// (<c>schema/*.sql</c>, applied by DbUp), all under one advisory lock so silos starting together take turns.
/// </summary>
public sealed partial class DatabaseSetup(
    IConfiguration configuration,
    IOptions<DatabaseOptions> options,
    TimeProvider time,
    ILogger<DatabaseSetup> logger)
{
    private const string OrleansScriptResource = "orleans-postgres.sql";
    private const string MigrationResourcePrefix = "schema.";

    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>Prepares the database; false (after one log line saying why) when it cannot.</summary>
    public async Task<bool> TryPrepareAsync(CancellationToken cancellationToken)
    {
        string connectionString;
        try
        {
            connectionString = configuration.GetPostgresConnectionString();
            _ = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is MissingDatabaseConfigurationException or ArgumentException)
        {
            LogCannotStart(logger, e.Message);
            return false;
        }

        var target = Describe(connectionString);
        try
        {
            // A data source of its own: set-up runs once, and must not leave its lock session in the app's pool.
            await using var dataSource = NpgsqlDataSource.Create(connectionString);
            await using var connection = await OpenWithRetryAsync(dataSource, cancellationToken);
            await PrepareAsync(connection, connectionString, cancellationToken);
            LogReady(logger, target);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException or SchemaMigrationException)
        {
            var reason = $"Cannot use the PostgreSQL database {target}: {OneLine(e)}. Check ConnectionStrings__Postgres and that the server is running.";
            LogCannotStart(logger, reason);
            return false;
        }
    }

    private async Task<NpgsqlConnection> OpenWithRetryAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        // The database may still be starting (e.g. started a moment ago by build.ps1): retry briefly,
        // but not for errors that waiting cannot fix, such as a wrong password or a missing database.
        var deadline = time.GetUtcNow() + options.Value.ConnectTimeout;
        while (true)
        {
            try
            {
                return await dataSource.OpenConnectionAsync(cancellationToken);
            }
            catch (Exception e) when (IsTransient(e) && time.GetUtcNow() < deadline)
            {
                var reason = OneLine(e);
                LogRetrying(logger, reason);
                await Task.Delay(RetryDelay, time, cancellationToken);
            }
        }
    }

    private async Task PrepareAsync(NpgsqlConnection connection, string connectionString, CancellationToken cancellationToken)
    {
        await using (var take = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", connection))
        {
            take.Parameters.AddWithValue("key", AdvisoryLocks.Schema);
            await take.ExecuteNonQueryAsync(cancellationToken);
        }

        try
        {
            if (options.Value.ApplyOrleansScript)
            {
                await using var apply = new NpgsqlCommand(OrleansScript, connection);
                await apply.ExecuteNonQueryAsync(cancellationToken);
            }

            ApplyMigrations(connectionString);

            await HeartbeatPartitions.EnsureAsync(connection, time.GetUtcNow(), cancellationToken);
        }
        finally
        {
            await using var release = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", connection);
            release.Parameters.AddWithValue("key", AdvisoryLocks.Schema);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    private void ApplyMigrations(string connectionString)
    {
        var result = DeployChanges.To
            .PostgresqlDatabase(connectionString)
            .WithScriptsEmbeddedInAssembly(Assembly.GetExecutingAssembly(), name => name.StartsWith(MigrationResourcePrefix, StringComparison.Ordinal))
            .WithTransactionPerScript()
            .LogTo(new MigrationLog(logger))
            .Build()
            .PerformUpgrade();
        if (!result.Successful)
        {
            throw new SchemaMigrationException($"migration {result.ErrorScript?.Name ?? "?"} failed: {OneLine(result.Error)}", result.Error);
        }

        foreach (var script in result.Scripts)
        {
            LogMigrationApplied(logger, script.Name);
        }
    }

    /// <summary>The text of <c>orleans-postgres.sql</c> as built into this assembly.</summary>
    internal static string OrleansScript => ReadResource(OrleansScriptResource);

    private static string ReadResource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Resource {name} is missing from the build.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static bool IsTransient(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState is PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.TooManyConnections,
        NpgsqlException npgsql => npgsql.IsTransient || npgsql.InnerException is SocketException,
        SocketException or TimeoutException => true,
        _ => false,
    };

    private static string Describe(string connectionString)
    {
        var parts = new NpgsqlConnectionStringBuilder(connectionString);
        return $"'{parts.Database}' on {parts.Host}:{parts.Port}";
    }

    private static string OneLine(Exception e)
    {
        var message = e.InnerException is { } inner && e is not PostgresException ? $"{e.Message} ({inner.Message})" : e.Message;
        return message.ReplaceLineEndings(" ");
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "{Reason}")]
    private static partial void LogCannotStart(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Database {Target} is ready")]
    private static partial void LogReady(ILogger logger, string target);

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Script}")]
    private static partial void LogMigrationApplied(ILogger logger, string script);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Database not reachable yet, retrying: {Reason}")]
    private static partial void LogRetrying(ILogger logger, string reason);

    [LoggerMessage(Message = "{Migration}")]
    private static partial void LogMigration(ILogger logger, LogLevel level, string migration);

    /// <summary>Routes DbUp's messages into our log.</summary>
    private sealed class MigrationLog(ILogger logger) : IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) => Log(LogLevel.Trace, format, args);
        public void LogDebug(string format, params object[] args) => Log(LogLevel.Debug, format, args);
        // DbUp narrates every step; what was applied is logged once by ApplyMigrations.
        public void LogInformation(string format, params object[] args) => Log(LogLevel.Debug, format, args);
        public void LogWarning(string format, params object[] args) => Log(LogLevel.Warning, format, args);
        public void LogError(string format, params object[] args) => Log(LogLevel.Error, format, args);
        public void LogError(Exception ex, string format, params object[] args) => Log(LogLevel.Error, format, args);

        private void Log(LogLevel level, string format, object[] args)
        {
            // DbUp hands us composite format strings, not message templates.
            if (logger.IsEnabled(level))
            {
                var message = string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args);
                LogMigration(logger, level, message);
            }
        }
    }
}

/// <summary>A migration script failed; DbUp rolled it back.</summary>
public sealed class SchemaMigrationException(string message, Exception? inner) : Exception(message, inner);
