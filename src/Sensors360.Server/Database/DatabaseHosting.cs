using Npgsql;

namespace Sensors360.Server.Database;

public static class DatabaseHosting
{
    public const string ConnectionStringName = "Postgres";

    /// <summary>Registers the process's one <see cref="NpgsqlDataSource"/> and the schema set-up.</summary>
    public static WebApplicationBuilder AddSensors360Database(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<DatabaseOptions>(builder.Configuration.GetSection(DatabaseOptions.Section));
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(WithAutoPrepare(builder.Configuration.GetPostgresConnectionString())));
        builder.Services.AddSingleton<DatabaseSetup>();
        builder.Services.AddHostedService<HeartbeatPartitions>();
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
}

/// <summary>Thrown when <c>ConnectionStrings:Postgres</c> is not set.</summary>
public sealed class MissingDatabaseConfigurationException()
    : InvalidOperationException("No database configured: set ConnectionStrings__Postgres to a PostgreSQL connection string.");
