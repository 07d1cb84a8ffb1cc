using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace Sensors360.Server.Operators;

/// <summary>An operator as <c>app_user</c> stores it.</summary>
public sealed record OperatorAccount(long Id, string Username, string PasswordHash, string Role);

/// <summary>The roles <c>app_user.role</c> allows.</summary>
public static class OperatorRoles
{
    public const string Admin = "admin";
    public const string Operator = "operator";
    public const string Viewer = "viewer";
}

/// <summary>Looks operators up in <c>app_user</c> and checks their passwords.</summary>
internal sealed partial class OperatorAccounts(
    NpgsqlDataSource dataSource,
    IPasswordHasher<OperatorAccount> hasher,
    ILogger<OperatorAccounts> logger)
{
    private static readonly OperatorAccount Nobody = new(0, "", "", OperatorRoles.Viewer);

    // Checked when the name is unknown, so that an unknown name takes as long as a wrong password.
    private readonly Lazy<string> _decoyHash = new(() => hasher.HashPassword(Nobody, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))));

    /// <summary>The operator with this name and password; null when either is wrong.</summary>
    public async Task<OperatorAccount?> FindByPasswordAsync(string username, string password, CancellationToken cancellationToken)
    {
        var account = await FindAsync(username, cancellationToken);
        if (account is null)
        {
            _ = hasher.VerifyHashedPassword(Nobody, _decoyHash.Value, password);
            return null;
        }

        return Verify(account, password) ? account : null;
    }

    private async Task<OperatorAccount?> FindAsync(string username, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT id, username, password_hash, role FROM app_user WHERE username = @username");
        command.Parameters.AddWithValue("username", username);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new OperatorAccount(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3))
            : null;
    }

    private bool Verify(OperatorAccount account, string password)
    {
        try
        {
            return hasher.VerifyHashedPassword(account, account.PasswordHash, password) != PasswordVerificationResult.Failed;
        }
        catch (FormatException)
        {
            // A row written by hand with something that is not a PasswordHasher hash: nobody can log in with it.
            LogUnreadableHash(logger, account.Username);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The password_hash of operator {Username} is not a PasswordHasher hash; that operator cannot log in")]
    private static partial void LogUnreadableHash(ILogger logger, string username);
}
