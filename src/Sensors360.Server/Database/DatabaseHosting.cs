using Microsoft.Extensions.Options;
using Npgsql;

namespace Sensors360.Server.Database;

public static partial class DatabaseHosting
{
    public const string ConnectionStringName = "Postgres";

    /// <summary>
    /// Registers the process's data sources, sized by the connection budget (the server's pool, the readiness check's
    /// and the change listener's connection), and the schema set-up.
    /// </summary>
    public static WebApplicationBuilder AddSensors360Database(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<DatabaseOptions>().Bind(builder.Configuration.GetSection(DatabaseOptions.Section))
            .Validate(options => options.MaxConnections >= ConnectionBudget.Minimum,
                $"{DatabaseOptions.Section}:MaxConnections must be at least {ConnectionBudget.Minimum} (Orleans, the heartbeat writers and requests each need some); see docs/operations.md.")
            .Validate(options => options.ListenerProbeEvery >= TimeSpan.FromSeconds(1) && options.ListenerProbeEvery <= TimeSpan.FromHours(1),
                $"{DatabaseOptions.Section}:ListenerProbeEvery must be from 00:00:01 to 01:00:00.");
        builder.Services.AddSingleton(provider =>
        {
            var connectionString = builder.Configuration.GetPostgresConnectionString();
            var budget = ConnectionBudget.Of(provider.GetRequiredService<IOptions<DatabaseOptions>>().Value.MaxConnections);
            var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger<ConnectionBudget>();
            LogBudget(logger, budget.Total, budget.Orleans, ConnectionBudget.Readiness, budget.Server, ConnectionBudget.Held);
            if (ConnectionBudget.ExplicitMaxPoolSize(connectionString) is { } ignored)
            {
                LogPoolSizeIgnored(logger, ignored, budget.Total);
            }

            return NpgsqlDataSource.Create(WithAutoPrepare(budget.ForServer(connectionString)));
        });
        builder.Services.AddKeyedSingleton(OwnDataSource.Readiness, (provider, _) => NpgsqlDataSource.Create(
            ConnectionBudget.Of(provider.GetRequiredService<IOptions<DatabaseOptions>>().Value.MaxConnections)
                .ForReadiness(builder.Configuration.GetPostgresConnectionString())));
        builder.Services.AddKeyedSingleton(OwnDataSource.Listener, (_, _) => NpgsqlDataSource.Create(
            ConnectionBudget.ForListener(builder.Configuration.GetPostgresConnectionString())));
        builder.Services.AddSingleton<DatabaseSetup>();
        builder.Services.AddHostedService<HeartbeatPartitions>();
        builder.Services.AddOptions<RetentionOptions>().Bind(builder.Configuration.GetSection(RetentionOptions.Section))
            .Validate(options => options.HeartbeatMonths >= 1,
                $"{RetentionOptions.Section}:HeartbeatMonths must be at least 1 (months of heartbeats kept before they are archived and dropped).")
            .Validate(options => !options.Enabled || Path.IsPathFullyQualified(options.ArchiveDirectory),
                $"{RetentionOptions.Section}:ArchiveDirectory must be an absolute path (or empty: no archive, and nothing is dropped).");
        builder.Services.AddHostedService<HeartbeatRetention>();
        return builder;
    }

    /// <summary>
    /// Checks the database and brings its schema up to date before the silo starts.
    /// On failure it logs one line and returns false, so the process exits instead of looping on stack traces.
    /// </summary>
    public static Task<bool> PrepareDatabaseAsync(this WebApplication app) =>
        app.Services.GetRequiredService<DatabaseSetup>().TryPrepareAsync(app.Lifetime.ApplicationStopping);

    /// <summary>
    /// The <c>migrate</c> command: brings the schema up to date (as the owner role) and grants the runtime role,
    /// without starting the silo. True on success; otherwise one log line says why.
    /// </summary>
    public static Task<bool> MigrateDatabaseAsync(this WebApplication app) =>
        app.Services.GetRequiredService<DatabaseSetup>().TryMigrateAsync(app.Lifetime.ApplicationStopping);

    /// <summary>
    /// Lets Npgsql prepare the statements the server repeats (heartbeat batches, sensor loads) unless the
    /// operator chose otherwise: the database then plans them once per connection instead of per call.
    /// </summary>
    public static string WithAutoPrepare(string connectionString)
    {
        var settings = new NpgsqlConnectionStringBuilder(connectionString);
        if (settings.MaxAutoPrepare == 0)
        {
            settings.MaxAutoPrepare = 32;
        }

        return settings.ConnectionString;
    }

    /// <summary>
    /// What keeps the connection budget from holding, as one line for the start-up error; null when nothing does.
    /// Without pooling every open would be a new connection, so no budget could be kept.
    /// </summary>
    public static string? CheckConnectionBudget(IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            // Reported by PrepareDatabaseAsync, with the database's other problems.
            return null;
        }

        try
        {
            return new NpgsqlConnectionStringBuilder(connectionString).Pooling
                ? null
                : $"ConnectionStrings__Postgres sets Pooling=false, so Sensors360__Database__MaxConnections cannot be kept: remove it (the server pools its connections within that budget).";
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The connection string, or a configuration error naming the setting to fill in.</summary>
    public static string GetPostgresConnectionString(this IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new MissingDatabaseConfigurationException();
        }

        return connectionString;
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Connection budget: at most {Total} connections to PostgreSQL, {Orleans} for Orleans, {Readiness} for the readiness check and {Server} for the server ({Held} of them held by the heartbeat writers and the change listener)")]
    private static partial void LogBudget(ILogger logger, int total, int orleans, int readiness, int server, int held);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "ConnectionStrings:Postgres sets Maximum Pool Size={Size}, which is ignored: the pools are sized from Sensors360:Database:MaxConnections ({Total})")]
    private static partial void LogPoolSizeIgnored(ILogger logger, int size, int total);
}

/// <summary>Thrown when <c>ConnectionStrings:Postgres</c> is not set.</summary>
public sealed class MissingDatabaseConfigurationException()
    : InvalidOperationException("No database configured: set ConnectionStrings__Postgres to a PostgreSQL connection string.");
