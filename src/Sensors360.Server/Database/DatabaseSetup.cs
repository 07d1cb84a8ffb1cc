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
/// The same code runs as the <c>migrate</c> command, with the owner role, for servers that run without DDL rights.
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
    public Task<bool> TryPrepareAsync(CancellationToken cancellationToken) => TryRunAsync(migrating: false, cancellationToken);

    /// <summary>
    /// The <c>migrate</c> command: applies <c>orleans-postgres.sql</c> and the migrations whatever the settings
    /// say, and grants <see cref="DatabaseOptions.RuntimeRole"/> what the server needs at run time.
    /// </summary>
    public Task<bool> TryMigrateAsync(CancellationToken cancellationToken) => TryRunAsync(migrating: true, cancellationToken);

    private async Task<bool> TryRunAsync(bool migrating, CancellationToken cancellationToken)
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
            await PrepareAsync(connection, connectionString, migrating, cancellationToken);
            LogReady(logger, target);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        catch (MigrationsPendingException e)
        {
            var reason = $"The PostgreSQL database {target} {e.Message}";
            LogCannotStart(logger, reason);
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

    private async Task PrepareAsync(NpgsqlConnection connection, string connectionString, bool migrating, CancellationToken cancellationToken)
    {
        await using (var take = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", connection))
        {
            take.Parameters.AddWithValue("key", AdvisoryLocks.Schema);
            await take.ExecuteNonQueryAsync(cancellationToken);
        }

        try
        {
            if (migrating || options.Value.ApplyOrleansScript)
            {
                await using var apply = new NpgsqlCommand(OrleansScript, connection);
                await apply.ExecuteNonQueryAsync(cancellationToken);
            }

            if (migrating || options.Value.ApplyMigrations)
            {
                ApplyMigrations(connectionString);
            }
            else
            {
                CheckMigrationsApplied(connectionString);
            }

            // Needs no DDL rights of the caller: the function runs as its owner (schema/0009).
            await HeartbeatPartitions.EnsureAsync(connection, time.GetUtcNow(), cancellationToken);

            if (migrating && !string.IsNullOrWhiteSpace(options.Value.RuntimeRole))
            {
                await GrantRuntimeRoleAsync(connection, options.Value.RuntimeRole, cancellationToken);
            }
        }
        finally
        {
            await using var release = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", connection);
            release.Parameters.AddWithValue("key", AdvisoryLocks.Schema);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    // Unpooled: DbUp's connections serve once at start, and pooled they would idle on outside the connection budget.
    private DbUp.Engine.UpgradeEngine Migrations(string connectionString) => DeployChanges.To
        .PostgresqlDatabase(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString)
        .WithScriptsEmbeddedInAssembly(Assembly.GetExecutingAssembly(), name => name.StartsWith(MigrationResourcePrefix, StringComparison.Ordinal))
        .WithTransactionPerScript()
        .LogTo(new MigrationLog(logger))
        .Build();

    /// <summary>Only reads DbUp's journal, so a role without DDL rights can tell it is running on an outdated schema.</summary>
    private void CheckMigrationsApplied(string connectionString)
    {
        var pending = Migrations(connectionString).GetScriptsToExecute();
        if (pending.Count > 0)
        {
            var names = string.Join(", ", pending.Select(script => script.Name[MigrationResourcePrefix.Length..]));
            throw new MigrationsPendingException(
                $"lacks the migrations {names}: apply them as the owner role with 'build.ps1 migrate' (or 'dotnet Sensors360.Server.dll migrate'), " +
                "or let the server apply them (Sensors360__Database__ApplyMigrations=true).");
        }
    }

    /// <summary>
    /// What the runtime role needs and no more: rows of every table (the migration journal read-only), the
    /// sequences, and our functions. Tables created later by the owner (e.g. new partitions) get the same rights.
    /// </summary>
    private static async Task GrantRuntimeRoleAsync(NpgsqlConnection connection, string role, CancellationToken cancellationToken)
    {
        string quotedRole, schema;
        await using (var quote = new NpgsqlCommand("SELECT quote_ident($1), quote_ident(current_schema())", connection))
        {
            quote.Parameters.AddWithValue(role);
            await using var reader = await quote.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            (quotedRole, schema) = (reader.GetString(0), reader.GetString(1));
        }

        await using var grant = new NpgsqlCommand($"""
            GRANT USAGE ON SCHEMA {schema} TO {quotedRole};
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {quotedRole};
            REVOKE INSERT, UPDATE, DELETE ON {schema}.schemaversions FROM {quotedRole};
            GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quotedRole};
            GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {quotedRole};
            ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quotedRole};
            """, connection);
        await grant.ExecuteNonQueryAsync(cancellationToken);
    }

    private void ApplyMigrations(string connectionString)
    {
        var result = Migrations(connectionString).PerformUpgrade();
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

/// <summary>Migrations are missing and the server was told not to apply them.</summary>
public sealed class MigrationsPendingException(string message) : Exception(message);

/// <summary>A migration script failed; DbUp rolled it back.</summary>
public sealed class SchemaMigrationException(string message, Exception? inner) : Exception(message, inner);
