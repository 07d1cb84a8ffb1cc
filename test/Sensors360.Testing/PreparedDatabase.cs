using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sensors360.Server.Database;

namespace Sensors360.Testing;

/// <summary>Databases set up exactly as the server sets them up at start.</summary>
public static class PreparedDatabase
{
    public static DatabaseSetup SetupFor(string connectionString, bool applyOrleansScript = true)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Postgres"] = connectionString })
            .Build();
        return new DatabaseSetup(
            configuration,
            Options.Create(new DatabaseOptions { ApplyOrleansScript = applyOrleansScript }),
            TimeProvider.System,
            NullLogger<DatabaseSetup>.Instance);
    }

    /// <summary>A new database with <c>orleans-postgres.sql</c> and every migration applied.</summary>
    public static async Task<string> CreateAsync(ThrowawayPostgres postgres, string purpose)
    {
        var connectionString = await postgres.CreateDatabaseAsync(purpose);
        if (!await SetupFor(connectionString).TryPrepareAsync(CancellationToken.None))
        {
            throw new InvalidOperationException($"Setting up the database for {purpose} failed.");
        }

        return connectionString;
    }
}
