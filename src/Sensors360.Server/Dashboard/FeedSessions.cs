using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Npgsql;
using Sensors360.Server.Operators;

namespace Sensors360.Server.Dashboard;

/// <summary>
/// The operator sessions behind this silo's dashboard sockets. A session holds at most
/// <see cref="MaxSocketsPerSession"/> sockets here, and each session is looked up again every
/// <see cref="DashboardOptions.SessionCheckPeriod"/> with the lookup the cookie authentication makes: once it
/// has ended (logout, expiry, a removed or disabled operator) or no longer passes the feed's authorization
/// policy (a lost role), its sockets are told to close. One lookup per session and period, however many
/// sockets it has.
/// </summary>
internal sealed partial class FeedSessions(
    OperatorSessionStore sessions,
    IAuthorizationService authorization,
    IOptions<DashboardOptions> options,
    TimeProvider time,
    ILogger<FeedSessions> logger) : BackgroundService
{
    /// <summary>Sockets one session may hold open on one silo.</summary>
    public const int MaxSocketsPerSession = 20;

    private readonly Dictionary<string, Session> _open = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private int _sockets;

    /// <summary>Sockets open on this silo (the <c>sensors360.dashboard.sockets</c> metric).</summary>
    public int OpenSockets => Volatile.Read(ref _sockets);

    /// <summary>A place for one more socket of the session; null when the session already has its maximum here.</summary>
    public FeedSessionLease? TryOpen(string sessionKey, AuthorizationPolicy policy)
    {
        lock (_gate)
        {
            if (!_open.TryGetValue(sessionKey, out var session))
            {
                session = new Session(policy);
                _open.Add(sessionKey, session);
            }

            if (session.Leases.Count >= MaxSocketsPerSession)
            {
                return null;
            }

            var lease = new FeedSessionLease(this, sessionKey);
            session.Leases.Add(lease);
            _sockets++;
            return lease;
        }
    }

    internal void Release(FeedSessionLease lease)
    {
        lock (_gate)
        {
            // Once per lease: released when its socket closes, and counted down here or when its session ended.
            if (!lease.Released)
            {
                lease.Released = true;
                _sockets--;
            }

            if (_open.TryGetValue(lease.SessionKey, out var session) && session.Leases.Remove(lease) && session.Leases.Count == 0)
            {
                _open.Remove(lease.SessionKey);
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SessionCheckPeriod, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await CheckAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        KeyValuePair<string, Session>[] open;
        lock (_gate)
        {
            open = [.. _open];
        }

        foreach (var (key, session) in open)
        {
            bool allowed;
            try
            {
                var principal = await sessions.FindLiveSessionAsync(key, cancellationToken);
                allowed = principal is not null && (await authorization.AuthorizeAsync(principal, session.Policy)).Succeeded;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                // A database outage says nothing about the session: it is checked again next period.
                LogCheckFailed(logger, e.Message.ReplaceLineEndings(" "));
                return;
            }

            if (!allowed)
            {
                End(key, session);
            }
        }
    }

    private void End(string key, Session session)
    {
        FeedSessionLease[] ended;
        lock (_gate)
        {
            // Only the entry that was checked: a socket opened meanwhile authenticated afresh.
            if (!_open.TryGetValue(key, out var current) || current != session)
            {
                return;
            }

            _open.Remove(key);
            ended = [.. session.Leases];
            session.Leases.Clear();
        }

        LogSessionEnded(logger, ended.Length);
        foreach (var lease in ended)
        {
            lease.End();
        }
    }

    private sealed class Session(AuthorizationPolicy policy)
    {
        public AuthorizationPolicy Policy { get; } = policy;

        public HashSet<FeedSessionLease> Leases { get; } = [];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "An operator session ended or lost the right to the feed; closing its {Count} dashboard sockets on this silo")]
    private static partial void LogSessionEnded(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not check the dashboard sockets' sessions, trying again next period: {Reason}")]
    private static partial void LogCheckFailed(ILogger logger, string reason);
}

/// <summary>One socket's place in its session's count; <see cref="Ended"/> is cancelled when the session ends.</summary>
internal sealed class FeedSessionLease(FeedSessions owner, string sessionKey) : IDisposable
{
    private readonly CancellationTokenSource _ended = new();

    public string SessionKey { get; } = sessionKey;

    /// <summary>Counted out of <see cref="FeedSessions.OpenSockets"/>; guarded by the owner's lock.</summary>
    internal bool Released { get; set; }

    public CancellationToken Ended => _ended.Token;

    internal void End()
    {
        try
        {
            _ended.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The socket closed by itself meanwhile.
        }
    }

    public void Dispose()
    {
        owner.Release(this);
        _ended.Dispose();
    }
}
