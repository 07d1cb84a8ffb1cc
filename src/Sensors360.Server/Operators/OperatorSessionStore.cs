using System.Buffers.Text;
using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Sensors360.Server.Operators;

/// <summary>
/// Operators' session tickets in <c>operator_session</c>. The cookie carries only a random key, so ending a
/// session here (logout, expiry, a deleted operator) ends it on every silo, whatever copies of the cookie exist.
/// </summary>
/// <remarks>
/// A database outage while a session is read is not caught here: authentication runs inside the exception
/// handler, so <see cref="Http.DatabaseUnavailableHandler"/> answers 503 (the session may well be valid, and a
/// 401 would send the operator to a login that cannot work either).
/// </remarks>
internal sealed partial class OperatorSessionStore(
    NpgsqlDataSource dataSource,
    IDataProtectionProvider dataProtection,
    TimeProvider time,
    IOptions<OperatorSessionOptions> options,
    ILogger<OperatorSessionStore> logger) : ITicketStore
{
    /// <summary>
    /// Expired sessions each login deletes. Sessions are only ever created by logins, so deleting more
    /// per login than one keeps the table near the number of live sessions without a timer.
    /// </summary>
    internal const int ExpiredDeletedPerLogin = 100;

    private const int KeyBytes = 32;

    // Where Retrieve leaves the key of the session a login request came with, for Store to delete.
    private const string ReplacedKeyItem = "Sensors360.Operators.ReplacedSessionKey";

    private readonly IDataProtector _protector = dataProtection.CreateProtector("Sensors360.Operators.OperatorSessionStore.v1");

    public Task<string> StoreAsync(AuthenticationTicket ticket) => StoreAsync(ticket, CancellationToken.None);

    public Task<string> StoreAsync(AuthenticationTicket ticket, CancellationToken cancellationToken) =>
        StoreCoreAsync(ticket, null, cancellationToken);

    public Task<string> StoreAsync(AuthenticationTicket ticket, HttpContext httpContext, CancellationToken cancellationToken) =>
        StoreCoreAsync(ticket, httpContext, cancellationToken);

    public Task RenewAsync(string key, AuthenticationTicket ticket) => RenewAsync(key, ticket, CancellationToken.None);

    public Task RenewAsync(string key, AuthenticationTicket ticket, CancellationToken cancellationToken) =>
        RenewCoreAsync(key, ticket, cancellationToken);

    public Task RenewAsync(string key, AuthenticationTicket ticket, HttpContext httpContext, CancellationToken cancellationToken) =>
        RenewCoreAsync(key, ticket, cancellationToken);

    public Task<AuthenticationTicket?> RetrieveAsync(string key) => RetrieveAsync(key, CancellationToken.None);

    public Task<AuthenticationTicket?> RetrieveAsync(string key, CancellationToken cancellationToken) =>
        RetrieveCoreAsync(key, null, cancellationToken);

    public Task<AuthenticationTicket?> RetrieveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken) =>
        RetrieveCoreAsync(key, httpContext, cancellationToken);

    public Task RemoveAsync(string key) => RemoveAsync(key, CancellationToken.None);

    public Task RemoveAsync(string key, CancellationToken cancellationToken) => RemoveCoreAsync(key, cancellationToken);

    public Task RemoveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken) =>
        RemoveCoreAsync(key, cancellationToken);

    private async Task<string> StoreCoreAsync(AuthenticationTicket ticket, HttpContext? httpContext, CancellationToken cancellationToken)
    {
        var key = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(KeyBytes));
        var now = time.GetUtcNow();
        var replaced = httpContext is not null && httpContext.Items.TryGetValue(ReplacedKeyItem, out var item) ? item as string : null;
        // One statement: the new session, the session this login replaces, and a few expired ones. SKIP LOCKED
        // lets silos clean up at the same time without waiting on each other or deleting a row twice.
        await using var command = dataSource.CreateCommand(
            """
            WITH expired AS (
                DELETE FROM operator_session WHERE key_hash IN (
                    SELECT key_hash FROM operator_session WHERE expires_at <= @now LIMIT @batch FOR UPDATE SKIP LOCKED)
            ), replaced AS (
                DELETE FROM operator_session WHERE key_hash = @replaced
            )
            INSERT INTO operator_session (key_hash, user_id, ticket, created_at, expires_at)
            VALUES (@hash, @user, @ticket, @now, @expires)
            """);
        command.Parameters.AddWithValue("hash", Hash(key));
        command.Parameters.AddWithValue("user", UserIdOf(ticket));
        command.Parameters.AddWithValue("ticket", Protect(ticket));
        command.Parameters.AddWithValue("now", now);
        // Never past the absolute lifetime; renewals keep to it as well.
        var expires = ExpiryOf(ticket, now);
        var latest = now + options.Value.SessionLifetime;
        command.Parameters.AddWithValue("expires", expires < latest ? expires : latest);
        command.Parameters.AddWithValue("batch", ExpiredDeletedPerLogin);
        command.Parameters.Add(new NpgsqlParameter("replaced", NpgsqlDbType.Bytea) { Value = replaced is null ? DBNull.Value : Hash(replaced) });
        await command.ExecuteNonQueryAsync(cancellationToken);
        return key;
    }

    private async Task RenewCoreAsync(string key, AuthenticationTicket ticket, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        try
        {
            // Only a live session is extended: one removed or expired meanwhile stays ended. However busy, it
            // never outlives its absolute lifetime from the login (created_at).
            await using var command = dataSource.CreateCommand(
                """
                UPDATE operator_session SET ticket = @ticket, expires_at = least(@expires, created_at + @lifetime)
                WHERE key_hash = @hash AND expires_at > @now
                """);
            command.Parameters.AddWithValue("lifetime", options.Value.SessionLifetime);
            command.Parameters.AddWithValue("hash", Hash(key));
            command.Parameters.AddWithValue("ticket", Protect(ticket));
            command.Parameters.AddWithValue("expires", ExpiryOf(ticket, now));
            command.Parameters.AddWithValue("now", now);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException || (e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            // Renewal runs as the response starts, after the request succeeded; failing it would turn that
            // success into an error. The session keeps its old expiry, and a later request renews it.
            LogRenewalFailed(logger, e.Message.ReplaceLineEndings(" "));
        }
    }

    private async Task<AuthenticationTicket?> RetrieveCoreAsync(string key, HttpContext? httpContext, CancellationToken cancellationToken)
    {
        if (httpContext?.GetEndpoint()?.Metadata.GetMetadata<StartsNewOperatorSession>() is not null)
        {
            // A login never continues the session it came with: otherwise the cookie framework would put the new
            // operator into the old key (it renews a known key instead of storing a new one), and whoever had
            // planted that key in the browser would share the session (session fixation). Unknown here, the
            // login gets a new key, and Store deletes the old session once the login succeeds.
            httpContext.Items[ReplacedKeyItem] = key;
            return null;
        }

        await using var command = dataSource.CreateCommand("SELECT ticket FROM operator_session WHERE key_hash = @hash AND expires_at > @now");
        command.Parameters.AddWithValue("hash", Hash(key));
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        if (await command.ExecuteScalarAsync(cancellationToken) is not byte[] protectedTicket)
        {
            return null;
        }

        try
        {
            return TicketSerializer.Default.Deserialize(_protector.Unprotect(protectedTicket));
        }
        catch (CryptographicException e)
        {
            // Its Data Protection key was revoked or lost: the operator logs in again, like after an expiry.
            LogUnreadableTicket(logger, e.Message.ReplaceLineEndings(" "));
            return null;
        }
    }

    private async Task RemoveCoreAsync(string key, CancellationToken cancellationToken)
    {
        // A failure propagates: a logout that could not end the session must not answer success.
        await using var command = dataSource.CreateCommand("DELETE FROM operator_session WHERE key_hash = @hash");
        command.Parameters.AddWithValue("hash", Hash(key));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    private byte[] Protect(AuthenticationTicket ticket) => _protector.Protect(TicketSerializer.Default.Serialize(ticket));

    // The cookie handler always sets ExpiresUtc; the fallback only keeps a hand-made ticket from living forever.
    private static DateTimeOffset ExpiryOf(AuthenticationTicket ticket, DateTimeOffset now) =>
        ticket.Properties.ExpiresUtc ?? now + OperatorSessions.IdleTimeout;

    private static long UserIdOf(AuthenticationTicket ticket) =>
        long.TryParse(ticket.Principal.FindFirstValue(ClaimTypes.NameIdentifier), NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? id
            : throw new InvalidOperationException("An operator session needs the operator's id as its NameIdentifier claim.");

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not extend an operator session; it keeps its current expiry: {Reason}")]
    private static partial void LogRenewalFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "An operator session's ticket cannot be decrypted, so that session is refused: {Reason}")]
    private static partial void LogUnreadableTicket(ILogger logger, string reason);
}

/// <summary>
/// Endpoint metadata: this endpoint signs in, so the session its request arrives with is not continued
/// (see <see cref="OperatorSessionStore"/>).
/// </summary>
internal sealed class StartsNewOperatorSession
{
    public static readonly StartsNewOperatorSession Instance = new();

    private StartsNewOperatorSession()
    {
    }
}
