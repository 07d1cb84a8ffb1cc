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
using Sensors360.Server.Database;

namespace Sensors360.Server.Operators;

/// <summary>
/// Operators' session tickets in <c>operator_session</c>. The cookie carries only a random key, so ending a
/// session here (logout, expiry, a deleted or disabled operator) ends it on every silo, whatever copies of the
/// cookie exist. A session is valid while its row exists, has not expired and its operator is not disabled; the
/// operator's role is read from <c>app_user</c> at each lookup, so a role change applies at the next request.
/// Lookups are kept for a moment (<see cref="OperatorSessionCache"/>): what ends or changes a session through
/// this silo applies here at once, and on other silos within <see cref="OperatorSessionCache.KeepFor"/>.
/// </summary>
/// <remarks>
/// A database outage while a session is read is not caught here: authentication runs inside the exception
/// handler, so <see cref="Http.FailedRequestProblems"/> answers 503 (the session may well be valid, and a
/// 401 would send the operator to a login that cannot work either).
/// </remarks>
internal sealed partial class OperatorSessionStore(
    NpgsqlDataSource dataSource,
    OperatorSessionCache cache,
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

    // Where Retrieve leaves the key of the session a request was authenticated with: the dashboard socket checks
    // it again later, and a password change keeps it.
    private const string SessionKeyItem = "Sensors360.Operators.SessionKey";

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

    public async Task<AuthenticationTicket?> RetrieveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var ticket = await RetrieveCoreAsync(key, httpContext, cancellationToken);
        if (ticket is not null)
        {
            // Kept for long-lived requests (the dashboard socket), which check their session again later.
            httpContext.Items[SessionKeyItem] = key;
        }

        return ticket;
    }

    /// <summary>The key of the session the request was authenticated with; null without one.</summary>
    internal static string? SessionKeyOf(HttpContext httpContext) =>
        httpContext.Items.TryGetValue(SessionKeyItem, out var key) ? key as string : null;

    /// <summary>
    /// The session's identity as a request would see it now (the same lookup the cookie authentication makes);
    /// null once the session has ended (logout, expiry, a removed or disabled operator).
    /// </summary>
    /// <remarks>Always read from the database: the dashboard's sockets check their sessions seldom, and must see the end of one then.</remarks>
    internal async Task<ClaimsPrincipal?> FindLiveSessionAsync(string key, CancellationToken cancellationToken) =>
        await ReadSessionAsync(key, cancellationToken) is { } session ? TicketOf(session)?.Principal : null;

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
        if (replaced is not null)
        {
            cache.Forget(replaced);
        }

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
            // The kept copy has the old expiry, which would have the next requests renew again.
            cache.Forget(key);
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
        var metadata = httpContext?.GetEndpoint()?.Metadata;
        if (metadata?.GetMetadata<ReadsNoOperatorSession>() is not null)
        {
            // Liveness and metrics never look at who calls, and must answer while the database cannot: a browser
            // that sends its cookie along is served as anonymous, its session left as it is.
            return null;
        }

        if (httpContext is not null && metadata?.GetMetadata<StartsNewOperatorSession>() is not null)
        {
            // A login never continues the session it came with: otherwise the cookie framework would put the new
            // operator into the old key (it renews a known key instead of storing a new one), and whoever had
            // planted that key in the browser would share the session (session fixation). Unknown here, the
            // login gets a new key, and Store deletes the old session once the login succeeds.
            httpContext.Items[ReplacedKeyItem] = key;
            return null;
        }

        var session = await cache.GetAsync(key, () => ReadSessionAsync(key, CancellationToken.None), cancellationToken);
        return session is null ? null : TicketOf(session);
    }

    /// <summary>
    /// The live session under <paramref name="key"/> from the database, its ticket decrypted; null when it has ended
    /// or its ticket cannot be read. The role comes from <c>app_user</c>, not from the ticket written at login: what
    /// an admin changed applies now.
    /// </summary>
    private async Task<CachedSession?> ReadSessionAsync(string key, CancellationToken cancellationToken)
    {
        // At Debug level this shows how often sessions are read from the database (the cache should make it rare).
        LogSessionRead(logger);
        try
        {
            return await ReadSessionOnceAsync(key, cancellationToken);
        }
        catch (Exception e) when (ClosedConnection.Is(e))
        {
            // Every operator request reads its session before anything else, so after a database restart this read
            // is the one that meets a connection the restart closed. Npgsql has emptied the pool: a new one reads it.
            var reason = e.Message.ReplaceLineEndings(" ");
            LogSessionReadAgain(logger, reason);
            return await ReadSessionOnceAsync(key, cancellationToken);
        }
    }

    private async Task<CachedSession?> ReadSessionOnceAsync(string key, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT s.ticket, u.role, s.expires_at FROM operator_session s JOIN app_user u ON u.id = s.user_id
            WHERE s.key_hash = @hash AND s.expires_at > @now AND NOT u.disabled
            """);
        command.Parameters.AddWithValue("hash", Hash(key));
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        byte[] protectedTicket;
        string role;
        DateTimeOffset expiresAt;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            protectedTicket = reader.GetFieldValue<byte[]>(0);
            role = reader.GetString(1);
            expiresAt = reader.GetFieldValue<DateTimeOffset>(2);
        }

        try
        {
            return new CachedSession(_protector.Unprotect(protectedTicket), role, expiresAt);
        }
        catch (CryptographicException e)
        {
            // Its Data Protection key was revoked or lost: the operator logs in again, like after an expiry.
            LogUnreadableTicket(logger, e.Message.ReplaceLineEndings(" "));
            return null;
        }
    }

    /// <summary>A ticket of its own for each request (the cookie handler changes it), with the role read from the database.</summary>
    private static AuthenticationTicket? TicketOf(CachedSession session)
    {
        var ticket = TicketSerializer.Default.Deserialize(session.Ticket);
        if (ticket?.Principal.Identity is not ClaimsIdentity identity)
        {
            return null;
        }

        foreach (var stale in identity.FindAll(ClaimTypes.Role).ToList())
        {
            identity.RemoveClaim(stale);
        }

        identity.AddClaim(new Claim(ClaimTypes.Role, session.Role));
        return ticket;
    }

    private async Task RemoveCoreAsync(string key, CancellationToken cancellationToken)
    {
        // A failure propagates: a logout that could not end the session must not answer success.
        await using var command = dataSource.CreateCommand("DELETE FROM operator_session WHERE key_hash = @hash");
        command.Parameters.AddWithValue("hash", Hash(key));
        await command.ExecuteNonQueryAsync(cancellationToken);
        cache.Forget(key);
    }

    /// <summary>
    /// Ends an operator's sessions, except the one the request <paramref name="keep"/> carries (a password
    /// change keeps the session it was made in), inside the caller's transaction.
    /// </summary>
    internal static async Task EndSessionsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long userId, HttpContext? keep, CancellationToken cancellationToken)
    {
        var kept = keep is not null && keep.Items.TryGetValue(SessionKeyItem, out var item) && item is string key ? Hash(key) : null;
        await using var command = new NpgsqlCommand(
            "DELETE FROM operator_session WHERE user_id = @user AND key_hash IS DISTINCT FROM @kept", connection, transaction);
        command.Parameters.AddWithValue("user", userId);
        command.Parameters.Add(new NpgsqlParameter("kept", NpgsqlDbType.Bytea) { Value = kept is null ? DBNull.Value : kept });
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Operator session read from the database")]
    private static partial void LogSessionRead(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "An operator session's read met a connection the database had closed ({Reason}); reading it on a new one")]
    private static partial void LogSessionReadAgain(ILogger logger, string reason);

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

/// <summary>
/// Endpoint metadata: this endpoint never looks at an operator's session (liveness, metrics), so none is read for it
/// and it answers whatever the database does (see <see cref="OperatorSessionStore"/>).
/// </summary>
internal sealed class ReadsNoOperatorSession
{
    public static readonly ReadsNoOperatorSession Instance = new();

    private ReadsNoOperatorSession()
    {
    }
}
