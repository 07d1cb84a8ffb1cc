using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Npgsql;
using Sensors360.Server.Audit;

namespace Sensors360.Server.Operators;

/// <summary>An operator as <c>app_user</c> stores it.</summary>
public sealed record OperatorAccount(long Id, string Username, string PasswordHash, string Role);

/// <summary>An operator as the admin screen lists them.</summary>
public sealed record OperatorSummary(string Username, string Role, bool Disabled, DateTimeOffset CreatedAt, DateTimeOffset? LastLoginAt);

/// <summary>The roles <c>app_user.role</c> allows.</summary>
public static class OperatorRoles
{
    public const string Admin = "admin";
    public const string Operator = "operator";
    public const string Viewer = "viewer";

    public static bool IsRole(string? role) => role is Admin or Operator or Viewer;
}

/// <summary>How a change to an operator ended.</summary>
internal enum OperatorChangeResult
{
    Done,
    NotFound,

    /// <summary>Refused: it would leave no enabled admin.</summary>
    LastAdmin,

    /// <summary>Refused: the current password given was wrong.</summary>
    WrongPassword,
}

/// <summary>
/// Every statement on <c>app_user</c> after bootstrap: finds operators and checks their passwords, and the
/// admins' changes (create, change role, disable, reset a password) and an operator's own password change,
/// each in one transaction with its audit event.
/// </summary>
internal sealed partial class OperatorAccounts(
    NpgsqlDataSource dataSource,
    OperatorSessionCache sessions,
    IPasswordHasher<OperatorAccount> hasher,
    AuditLog audit,
    TimeProvider time,
    ILogger<OperatorAccounts> logger)
{
    private const string SummaryColumns = "username, role, disabled, created_at, last_login_at";

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
        if (username.Contains('\0', StringComparison.Ordinal))
        {
            // No stored name holds U+0000 (PostgreSQL's text cannot), and the query would fail on it.
            return null;
        }

        // A disabled operator is looked up like an unknown one: same answer, same time.
        await using var command = dataSource.CreateCommand("SELECT id, username, password_hash, role FROM app_user WHERE username = @username AND NOT disabled");
        command.Parameters.AddWithValue("username", username);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new OperatorAccount(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3))
            : null;
    }

    /// <summary>Notes the login's time on the account and records it; the session already exists, so a failure is only logged.</summary>
    public async Task RecordLoginAsync(OperatorAccount account, AuditEntry entry, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var update = new NpgsqlCommand("UPDATE app_user SET last_login_at = @now WHERE id = @id", connection, transaction))
            {
                update.Parameters.AddWithValue("now", time.GetUtcNow());
                update.Parameters.AddWithValue("id", account.Id);
                await update.ExecuteNonQueryAsync(cancellationToken);
            }

            await audit.WriteAsync(entry, connection, transaction, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            LogLoginNotRecorded(logger, account.Username, e.Message.ReplaceLineEndings(" "));
        }
    }

    public async Task<IReadOnlyList<OperatorSummary>> ListAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT {SummaryColumns} FROM app_user ORDER BY username");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var operators = new List<OperatorSummary>();
        while (await reader.ReadAsync(cancellationToken))
        {
            operators.Add(ReadSummary(reader));
        }

        return operators;
    }

    /// <summary>The new operator; null when the username is taken. Name, password and role are checked by the caller.</summary>
    public async Task<OperatorSummary?> CreateAsync(string username, string password, string role, AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        OperatorSummary created;
        await using (var insert = new NpgsqlCommand(
            $"""
            INSERT INTO app_user (username, password_hash, role, created_at, password_changed_at) VALUES (@username, @hash, @role, @now, @now)
            ON CONFLICT (username) DO NOTHING RETURNING {SummaryColumns}
            """,
            connection,
            transaction))
        {
            insert.Parameters.AddWithValue("username", username);
            insert.Parameters.AddWithValue("hash", hasher.HashPassword(new OperatorAccount(0, username, "", role), password));
            insert.Parameters.AddWithValue("role", role);
            insert.Parameters.AddWithValue("now", time.GetUtcNow());
            await using var reader = await insert.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            created = ReadSummary(reader);
        }

        await audit.WriteAsync(entry with { Details = new Dictionary<string, object?> { ["role"] = role } }, connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return created;
    }

    /// <summary>
    /// Changes an operator's role and/or disables or enables them. Disabling ends their sessions. Refused
    /// (<see cref="OperatorChangeResult.LastAdmin"/>) when no enabled admin would remain.
    /// </summary>
    public async Task<(OperatorChangeResult Result, OperatorSummary? Operator)> ChangeAsync(
        string username, string? role, bool? disabled, AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // Locking the enabled admins first makes changes that could remove an admin take turns: two admins
        // demoting each other at once cannot both see the other as the admin that remains. The UPDATE below
        // runs after the lock, so its check sees every change committed before.
        await using (var lockAdmins = new NpgsqlCommand(
            "SELECT id FROM app_user WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE", connection, transaction))
        {
            await lockAdmins.ExecuteNonQueryAsync(cancellationToken);
        }

        long id;
        string oldRole;
        bool wasDisabled;
        await using (var find = new NpgsqlCommand("SELECT id, role, disabled FROM app_user WHERE username = @username FOR UPDATE", connection, transaction))
        {
            find.Parameters.AddWithValue("username", username);
            await using var reader = await find.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return (OperatorChangeResult.NotFound, null);
            }

            (id, oldRole, wasDisabled) = (reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2));
        }

        var newRole = role ?? oldRole;
        var nowDisabled = disabled ?? wasDisabled;
        OperatorSummary changed;
        await using (var update = new NpgsqlCommand(
            $"""
            UPDATE app_user SET role = @role, disabled = @disabled
            WHERE id = @id AND ((@role = 'admin' AND NOT @disabled)
                OR EXISTS (SELECT 1 FROM app_user other WHERE other.id <> @id AND other.role = 'admin' AND NOT other.disabled))
            RETURNING {SummaryColumns}
            """,
            connection,
            transaction))
        {
            update.Parameters.AddWithValue("id", id);
            update.Parameters.AddWithValue("role", newRole);
            update.Parameters.AddWithValue("disabled", nowDisabled);
            await using var reader = await update.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return (OperatorChangeResult.LastAdmin, null);
            }

            changed = ReadSummary(reader);
        }

        if (nowDisabled)
        {
            await OperatorSessionStore.EndSessionsAsync(connection, transaction, id, keep: null, cancellationToken);
        }

        var details = new Dictionary<string, object?>
        {
            ["from"] = new Dictionary<string, object?> { ["role"] = oldRole, ["disabled"] = wasDisabled },
            ["to"] = new Dictionary<string, object?> { ["role"] = newRole, ["disabled"] = nowDisabled },
        };
        await audit.WriteAsync(entry with { Details = details }, connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        // A new role or a disabled operator applies to their next request on this silo, not after the cache's moment.
        sessions.ForgetAll();
        return (OperatorChangeResult.Done, changed);
    }

    /// <summary>An admin sets an operator's password; that operator's sessions end, except the request's own.</summary>
    public async Task<OperatorChangeResult> ResetPasswordAsync(
        string username, string password, HttpContext request, AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var id = await SetPasswordAsync(connection, transaction, "username = @who", username, password, cancellationToken);
        if (id is null)
        {
            return OperatorChangeResult.NotFound;
        }

        await OperatorSessionStore.EndSessionsAsync(connection, transaction, id.Value, request, cancellationToken);
        await audit.WriteAsync(entry, connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        sessions.ForgetAll();
        return OperatorChangeResult.Done;
    }

    /// <summary>An operator changes their own password, proving the current one; their other sessions end.</summary>
    public async Task<OperatorChangeResult> ChangeOwnPasswordAsync(
        long userId, string current, string password, HttpContext request, AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        OperatorAccount account;
        await using (var find = new NpgsqlCommand(
            "SELECT id, username, password_hash, role FROM app_user WHERE id = @id AND NOT disabled FOR UPDATE", connection, transaction))
        {
            find.Parameters.AddWithValue("id", userId);
            await using var reader = await find.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return OperatorChangeResult.NotFound;
            }

            account = new OperatorAccount(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3));
        }

        if (!Verify(account, current))
        {
            return OperatorChangeResult.WrongPassword;
        }

        _ = await SetPasswordAsync(connection, transaction, "id = @who", userId, password, cancellationToken);
        await OperatorSessionStore.EndSessionsAsync(connection, transaction, userId, request, cancellationToken);
        await audit.WriteAsync(entry, connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        sessions.ForgetAll();
        return OperatorChangeResult.Done;
    }

    private async Task<long?> SetPasswordAsync<TWho>(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string where, TWho who, string password, CancellationToken cancellationToken)
        where TWho : notnull
    {
        await using var update = new NpgsqlCommand(
            $"UPDATE app_user SET password_hash = @hash, password_changed_at = @now WHERE {where} RETURNING id", connection, transaction);
        update.Parameters.AddWithValue("who", who);
        update.Parameters.AddWithValue("hash", hasher.HashPassword(new OperatorAccount(0, "", "", ""), password));
        update.Parameters.AddWithValue("now", time.GetUtcNow());
        return await update.ExecuteScalarAsync(cancellationToken) is long id ? id : null;
    }

    private static OperatorSummary ReadSummary(NpgsqlDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetBoolean(2),
        reader.GetFieldValue<DateTimeOffset>(3),
        reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4));

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

    [LoggerMessage(Level = LogLevel.Error, Message = "The login of operator {Username} was not recorded (database unavailable): {Reason}")]
    private static partial void LogLoginNotRecorded(ILogger logger, string username, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The password_hash of operator {Username} is not a PasswordHasher hash; that operator cannot log in")]
    private static partial void LogUnreadableHash(ILogger logger, string username);
}
