using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Internal;

namespace Sensors360.Server.Operators;

/// <summary>A live session as read from the database: its ticket (decrypted), its operator's role now, and when it expires.</summary>
internal sealed record CachedSession(byte[] Ticket, string Role, DateTimeOffset ExpiresAt);

/// <summary>
/// The sessions this silo read lately, so a burst of requests (a thousand dashboards opening, a page loading its
/// panels) costs one session query per session every <see cref="KeepFor"/>, not one per request: what keeps a
/// silo's reads within its connection budget. Requests that miss the same session at once share one query.
/// </summary>
/// <remarks>
/// What ends or changes a session through this silo (logout, a new login replacing it, an admin's change of role,
/// disabling, a password change) takes effect here at once: it is forgotten on commit. Through another silo, or in
/// the database directly, it takes effect here within <see cref="KeepFor"/>.
/// </remarks>
internal sealed class OperatorSessionCache : IDisposable
{
    /// <summary>
    /// How long a session read stays trusted. The promise is that logout, disabling and a role change apply on every
    /// silo within 5 s (docs/security.md); 2 s leaves room for a slow request on a busy silo.
    /// </summary>
    public static readonly TimeSpan KeepFor = TimeSpan.FromSeconds(2);

    // Sessions kept at most; beyond, the cache evicts and lookups go to the database as before.
    private const int MaxSessions = 10_000;

    private readonly MemoryCache _sessions;
    private readonly ConcurrentDictionary<string, Lazy<Task<CachedSession?>>> _loading = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    // Bumped by every Forget: a read that started before must not be kept (it may have seen the session alive).
    private long _generation;

    public OperatorSessionCache(TimeProvider time)
    {
        _time = time;
        _sessions = new MemoryCache(new MemoryCacheOptions { SizeLimit = MaxSessions, Clock = new Clock(time) });
    }

    /// <summary>
    /// The session under <paramref name="key"/>: kept, or read through <paramref name="read"/> (null when there is
    /// no live session, which is never kept: a failed lookup must not keep a session from being used once it exists).
    /// </summary>
    public async Task<CachedSession?> GetAsync(string key, Func<Task<CachedSession?>> read, CancellationToken cancellationToken)
    {
        if (_sessions.TryGetValue(key, out CachedSession? kept))
        {
            return kept;
        }

        var mine = new Lazy<Task<CachedSession?>>(() => ReadAndKeepAsync(key, read));
        var shared = _loading.GetOrAdd(key, mine);
        try
        {
            // One waiter giving up (its request aborted) leaves the read running for the others.
            return await shared.Value.WaitAsync(cancellationToken);
        }
        finally
        {
            if (ReferenceEquals(shared, mine))
            {
                _loading.TryRemove(new KeyValuePair<string, Lazy<Task<CachedSession?>>>(key, mine));
            }
        }
    }

    /// <summary>The session ended or changed through this silo: the next request reads it again.</summary>
    public void Forget(string key)
    {
        Interlocked.Increment(ref _generation);
        _loading.TryRemove(key, out _);
        _sessions.Remove(key);
    }

    /// <summary>An operator's role, state or password changed through this silo: every session is read again.</summary>
    public void ForgetAll()
    {
        Interlocked.Increment(ref _generation);
        _loading.Clear();
        _sessions.Clear();
    }

    public void Dispose() => _sessions.Dispose();

    private async Task<CachedSession?> ReadAndKeepAsync(string key, Func<Task<CachedSession?>> read)
    {
        var generation = Interlocked.Read(ref _generation);
        var session = await read();
        if (session is not null && Interlocked.Read(ref _generation) == generation)
        {
            var keepUntil = _time.GetUtcNow() + KeepFor;
            _sessions.Set(key, session, new MemoryCacheEntryOptions
            {
                AbsoluteExpiration = session.ExpiresAt < keepUntil ? session.ExpiresAt : keepUntil,
                Size = 1,
            });
        }

        return session;
    }

    /// <summary>The cache's expiry clock is the server's TimeProvider.</summary>
    private sealed class Clock(TimeProvider time) : ISystemClock
    {
        public DateTimeOffset UtcNow => time.GetUtcNow();
    }
}
