using System.Net;
using System.Threading.RateLimiting;
using Sensors360.Server.Http;

namespace Sensors360.Server.Operators;

/// <summary>
/// Failed logins per account name, on this silo: after <see cref="MaxFailures"/> within <see cref="Window"/>, logins
/// to that name get 429 from every address until the window ends, whatever password they bring. The per-address
/// limit slows one guesser; this one bounds guesses at one account however many addresses they come from. Names
/// nobody has count alike, so the limit says nothing about which names exist. The price: someone who knows a
/// name can keep it locked by failing ten times every 15 minutes (docs/security.md).
/// </summary>
internal sealed partial class AccountLoginLimit : IDisposable
{
    public const int MaxFailures = 10;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(15);

    // Attempts at one name take turns, so a burst of parallel guesses cannot all pass the check before any counts.
    private const int WaitingTurns = 16;

    private readonly ILogger<AccountLoginLimit> _logger;
    private readonly PartitionedRateLimiter<string> _failures;
    private readonly PartitionedRateLimiter<string> _turns;

    public AccountLoginLimit(ILogger<AccountLoginLimit> logger)
        : this(
            logger,
            PartitionedRateLimiter.Create<string, string>(username => RateLimitPartition.GetFixedWindowLimiter(
                username, _ => new FixedWindowRateLimiterOptions { PermitLimit = MaxFailures, Window = Window, QueueLimit = 0 })),
            PartitionedRateLimiter.Create<string, string>(username => RateLimitPartition.GetConcurrencyLimiter(
                username, _ => new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = WaitingTurns })))
    {
    }

    /// <summary>Over the given partitioned limiters (tests give limiters whose partition is swept under a request).</summary>
    internal AccountLoginLimit(ILogger<AccountLoginLimit> logger, PartitionedRateLimiter<string> failures, PartitionedRateLimiter<string> turns)
    {
        _logger = logger;
        _failures = IdlePartitionSweep.Tolerate(failures);
        _turns = IdlePartitionSweep.Tolerate(turns);
    }

    /// <summary>This attempt's turn at the name (dispose when done); not acquired when too many attempts wait already.</summary>
    public ValueTask<RateLimitLease> WaitTurnAsync(string username, CancellationToken cancellationToken) =>
        _turns.AcquireAsync(username, 1, cancellationToken);

    /// <summary>Whether the name has used up its failures; <paramref name="retryAfter"/> is at most the window.</summary>
    public bool IsLocked(string username, IPAddress? address, out TimeSpan retryAfter)
    {
        using var probe = _failures.AttemptAcquire(username, 0);
        retryAfter = probe.TryGetMetadata(MetadataName.RetryAfter, out var after) && after > TimeSpan.Zero ? after : Window;
        if (!probe.IsAcquired)
        {
            LogLocked(_logger, username, address?.ToString() ?? "unknown");
        }

        return !probe.IsAcquired;
    }

    public void RecordFailure(string username, IPAddress? address)
    {
        _failures.AttemptAcquire(username).Dispose();
        LogFailed(_logger, username, address?.ToString() ?? "unknown");
    }

    public void Dispose()
    {
        _failures.Dispose();
        _turns.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Failed login for {Username} from {Address}")]
    private static partial void LogFailed(ILogger logger, string username, string address);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Login for {Username} from {Address} refused: too many failed logins for this name")]
    private static partial void LogLocked(ILogger logger, string username, string address);
}
