using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Npgsql;
using Sensors360.Server.Database;

namespace Sensors360.Server.Operators;

/// <summary>Settings under <c>Sensors360:Bootstrap</c>: the first admin, created when no operator exists.</summary>
public sealed class BootstrapOptions
{
    public const string Section = "Sensors360:Bootstrap";

    public string AdminUser { get; set; } = "admin";

    /// <summary>No default: without it no operator is created, and nobody can log in until one exists.</summary>
    public string? AdminPassword { get; set; }
}

/// <summary>
/// Start-up work for operators, done by one silo at a time: settle the session key every silo will use,
/// then create the first admin if there is no operator yet.
/// </summary>
internal sealed partial class OperatorBootstrap(
    NpgsqlDataSource dataSource,
    IDataProtectionProvider dataProtection,
    IPasswordHasher<OperatorAccount> hasher,
    IOptions<BootstrapOptions> options,
    ILogger<OperatorBootstrap> logger)
{
    /// <summary>True when done; false (after one log line saying why) when the server cannot go on.</summary>
    public async Task<bool> TryBootstrapAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (string.IsNullOrWhiteSpace(settings.AdminUser) || settings.AdminUser.Length > 64)
        {
            LogInvalidAdminUser(logger, settings.AdminUser);
            return false;
        }

        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var take = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", connection, transaction))
            {
                take.Parameters.AddWithValue("key", AdvisoryLocks.OperatorBootstrap);
                await take.ExecuteNonQueryAsync(cancellationToken);
            }

            SettleSessionKey();
            await CreateFirstAdminAsync(connection, transaction, settings, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or CryptographicException)
        {
            var reason = $"Cannot prepare operator sign-in: {e.Message.ReplaceLineEndings(" ")}";
            LogCannotStart(logger, reason);
            return false;
        }
    }

    // On an empty key table, silos starting together would each create a key and, until their key rings
    // refresh, reject each other's cookies. Loading the key ring under the lock makes the first silo create
    // the key and the others find it.
    private void SettleSessionKey() =>
        _ = dataProtection.CreateProtector(nameof(OperatorBootstrap)).Protect([]);

    private async Task CreateFirstAdminAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, BootstrapOptions settings, CancellationToken cancellationToken)
    {
        await using (var any = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM app_user)", connection, transaction))
        {
            if (await any.ExecuteScalarAsync(cancellationToken) is true)
            {
                return;
            }
        }

        if (string.IsNullOrEmpty(settings.AdminPassword))
        {
            LogNobodyCanLogIn(logger);
            return;
        }

        var admin = new OperatorAccount(0, settings.AdminUser, "", OperatorRoles.Admin);
        // WHERE NOT EXISTS and ON CONFLICT keep this safe even without the lock, e.g. against a hand-made insert.
        await using var insert = new NpgsqlCommand(
            """
            INSERT INTO app_user (username, password_hash, role)
            SELECT @username, @hash, @role
            WHERE NOT EXISTS (SELECT 1 FROM app_user)
            ON CONFLICT (username) DO NOTHING
            """,
            connection,
            transaction);
        insert.Parameters.AddWithValue("username", admin.Username);
        insert.Parameters.AddWithValue("hash", hasher.HashPassword(admin, settings.AdminPassword));
        insert.Parameters.AddWithValue("role", admin.Role);
        if (await insert.ExecuteNonQueryAsync(cancellationToken) == 1)
        {
            LogCreatedAdmin(logger, admin.Username);
        }
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "{Reason}")]
    private static partial void LogCannotStart(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Sensors360:Bootstrap:AdminUser must be 1 to 64 characters, not '{AdminUser}'")]
    private static partial void LogInvalidAdminUser(ILogger logger, string? adminUser);

    [LoggerMessage(Level = LogLevel.Information, Message = "No operator existed: created admin {Username} from Sensors360:Bootstrap")]
    private static partial void LogCreatedAdmin(ILogger logger, string username);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "No operator exists and Sensors360:Bootstrap:AdminPassword is not set, so nobody can log in; set Sensors360__Bootstrap__AdminPassword and restart to create the first admin")]
    private static partial void LogNobodyCanLogIn(ILogger logger);
}
