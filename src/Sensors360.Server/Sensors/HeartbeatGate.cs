using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Internal;
using Microsoft.Extensions.Options;
using Sensors360.Abstractions.Sensors;
using Sensors360.Server.Http;

namespace Sensors360.Server.Sensors;

/// <summary>What <see cref="HeartbeatGate.Admit"/> decided about a heartbeat request.</summary>
internal enum HeartbeatAdmission
{
    /// <summary>On to the sensor's grain.</summary>
    Pass,

    /// <summary>Its id is known to be unknown, or its token known to be wrong: 401 without asking the grain.</summary>
    Refused,

    /// <summary>Its client address caused too many refusals this minute: 429.</summary>
    AddressLimited,

    /// <summary>Its sensor sent more than its heartbeats per second: 429.</summary>
    SensorLimited,
}

/// <summary>
/// What a heartbeat request passes on this silo before it reaches the sensor's grain, in this order:
/// <list type="number">
/// <item>its client address has not caused <see cref="IngestOptions.MaxRefusedHeartbeatsPerMinute"/> refusals this minute;</item>
/// <item>its id was not found unknown, nor its token wrong, in the last minute (then 401 at once: no grain
/// call, no activation, no database query);</item>
/// <item>its sensor has not used up <see cref="IngestOptions.MaxHeartbeatsPerSecond"/> (a sliding window).</item>
/// </list>
/// Refusals remembered here are forgotten when the sensor is provisioned or its token rotated on any silo
/// (<see cref="SensorChangeListener"/>), and remembered only while that announcement channel is listened to.
/// </summary>
/// <remarks>
/// The hot path is two partitioned-limiter lookups and one cache lookup keyed by strings and addresses the
/// request already has: no allocation on a passing request beyond the limiter's lease bookkeeping.
/// </remarks>
internal sealed class HeartbeatGate : IDisposable
{
    /// <summary>How long an unknown id or a wrong token is remembered.</summary>
    public static readonly TimeSpan RememberFor = TimeSpan.FromMinutes(1);

    // Wrong tokens kept per sensor: a storm of random ones only fills this many; beyond, the grain answers them.
    private const int WrongTokensPerSensor = 16;

    // Ids remembered at most: a storm of random ids cannot grow memory past this (then the address limit holds it).
    private const int RememberedSensors = 100_000;

    private static readonly TimeSpan SensorWindow = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan AddressWindow = TimeSpan.FromMinutes(1);

    private readonly PartitionedRateLimiter<string> _perSensor;
    private readonly PartitionedRateLimiter<IPAddress> _refusalsPerAddress;
    private readonly MemoryCache _refused;
    private readonly MemoryCacheEntryOptions _entryOptions = new() { AbsoluteExpirationRelativeToNow = RememberFor, Size = 1 };
    private long _generation;
    private volatile bool _remembering;

    public HeartbeatGate(IOptions<IngestOptions> options, TimeProvider time)
        : this(options.Value.MaxHeartbeatsPerSecond, SensorLimits(options.Value), AddressLimits(options.Value), time)
    {
    }

    /// <summary>Over the given partitioned limiters (tests give limiters whose partition is swept under a request).</summary>
    internal HeartbeatGate(int maxHeartbeatsPerSecond, PartitionedRateLimiter<string> perSensor, PartitionedRateLimiter<IPAddress> refusalsPerAddress, TimeProvider time)
    {
        MaxHeartbeatsPerSecond = maxHeartbeatsPerSecond;
        _perSensor = IdlePartitionSweep.Tolerate(perSensor);
        _refusalsPerAddress = IdlePartitionSweep.Tolerate(refusalsPerAddress);
        _refused = new MemoryCache(new MemoryCacheOptions { SizeLimit = RememberedSensors, Clock = new Clock(time) });
    }

    private static PartitionedRateLimiter<string> SensorLimits(IngestOptions ingest)
    {
        // A sliding window of five segments: no more than the limit in any second, unlike a fixed window that lets
        // twice the limit through around its boundary.
        var sensorLimit = new SlidingWindowRateLimiterOptions
        {
            PermitLimit = ingest.MaxHeartbeatsPerSecond, Window = SensorWindow, SegmentsPerWindow = 5, QueueLimit = 0, AutoReplenishment = false,
        };
        // The partition factory is made once: RateLimitPartition.GetSlidingWindowLimiter makes a new delegate (and
        // closure) on every request. Without auto-replenishment, as it arranges: the partitioned limiter replenishes
        // its partitions on its own timer instead of one timer per partition.
        Func<string, RateLimiter> newSensorLimiter = _ => new SlidingWindowRateLimiter(sensorLimit);
        return PartitionedRateLimiter.Create<string, string>(sensorId => RateLimitPartition.Get(sensorId, newSensorLimiter));
    }

    private static PartitionedRateLimiter<IPAddress> AddressLimits(IngestOptions ingest)
    {
        var addressLimit = new FixedWindowRateLimiterOptions
        {
            PermitLimit = ingest.MaxRefusedHeartbeatsPerMinute, Window = AddressWindow, QueueLimit = 0, AutoReplenishment = false,
        };
        // Made once and replenished by the partitioned limiter, as the sensor limit's.
        Func<IPAddress, RateLimiter> newAddressLimiter = _ => new FixedWindowRateLimiter(addressLimit);
        return PartitionedRateLimiter.Create<IPAddress, IPAddress>(address => RateLimitPartition.Get(address, newAddressLimiter));
    }

    public int MaxHeartbeatsPerSecond { get; }

    /// <summary>
    /// Whether the request may go on to the grain; <paramref name="retryAfter"/> says when to retry a 429, and
    /// <paramref name="generation"/> is handed back to <see cref="Refused"/>.
    /// </summary>
    public HeartbeatAdmission Admit(string sensorId, string tokenHash, IPAddress address, out TimeSpan retryAfter, out long generation)
    {
        retryAfter = TimeSpan.Zero;
        generation = Volatile.Read(ref _generation);
        using (var budget = _refusalsPerAddress.AttemptAcquire(address, 0))
        {
            if (!budget.IsAcquired)
            {
                retryAfter = RetryAfter(budget, AddressWindow);
                return HeartbeatAdmission.AddressLimited;
            }
        }

        if (_refused.TryGetValue(sensorId, out RefusedSensor? refused) && refused!.Refuses(tokenHash))
        {
            CountRefusal(address);
            return HeartbeatAdmission.Refused;
        }

        using var permit = _perSensor.AttemptAcquire(sensorId);
        if (!permit.IsAcquired)
        {
            retryAfter = RetryAfter(permit, SensorWindow);
            return HeartbeatAdmission.SensorLimited;
        }

        return HeartbeatAdmission.Pass;
    }

    /// <summary>The grain refused the request: counted against its address, and remembered for a minute.</summary>
    public void Refused(string sensorId, string tokenHash, IPAddress address, HeartbeatResult result, long generation)
    {
        CountRefusal(address);
        // Not remembered when a provision or rotation was announced while the grain was asked (or announcements may
        // have been missed): the answer may already be out of date.
        if (!_remembering || generation != Volatile.Read(ref _generation))
        {
            return;
        }

        if (result == HeartbeatResult.UnknownSensor)
        {
            _refused.Set(sensorId, RefusedSensor.Unknown, _entryOptions);
        }
        else if (result == HeartbeatResult.Unauthorized)
        {
            var entry = _refused.GetOrCreate(sensorId, _ => new RefusedSensor(), _entryOptions)!;
            entry.AddWrongToken(tokenHash);
        }
    }

    /// <summary>The sensor was provisioned or its token rotated (on any silo): forget its refusals.</summary>
    public void Forget(string sensorId)
    {
        Interlocked.Increment(ref _generation);
        _refused.Remove(sensorId);
    }

    /// <summary>Announcements are heard from now on; what was remembered before may have missed some, so it goes.</summary>
    public void StartRemembering()
    {
        Interlocked.Increment(ref _generation);
        _refused.Clear();
        _remembering = true;
    }

    /// <summary>Announcements may be missed from now on: remember nothing new until they are heard again.</summary>
    public void StopRemembering()
    {
        _remembering = false;
        Interlocked.Increment(ref _generation);
        _refused.Clear();
    }

    public void Dispose()
    {
        _perSensor.Dispose();
        _refusalsPerAddress.Dispose();
        _refused.Dispose();
    }

    private void CountRefusal(IPAddress address) => _refusalsPerAddress.AttemptAcquire(address).Dispose();

    private static TimeSpan RetryAfter(RateLimitLease lease, TimeSpan fallback) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) && retryAfter > TimeSpan.Zero ? retryAfter : fallback;

    /// <summary>What is remembered about one id: that no such sensor exists, or tokens it refused.</summary>
    private sealed class RefusedSensor
    {
        public static readonly RefusedSensor Unknown = new(unknown: true);

        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _wrongTokens = new(StringComparer.Ordinal);
        private readonly bool _unknown;

        public RefusedSensor(bool unknown = false) => _unknown = unknown;

        public bool Refuses(string tokenHash) => _unknown || (!_wrongTokens.IsEmpty && _wrongTokens.ContainsKey(tokenHash));

        public void AddWrongToken(string tokenHash)
        {
            if (_wrongTokens.Count < WrongTokensPerSensor)
            {
                _wrongTokens.TryAdd(tokenHash, 0);
            }
        }
    }

    /// <summary>The cache's expiry clock is the server's TimeProvider.</summary>
    private sealed class Clock(TimeProvider time) : ISystemClock
    {
        public DateTimeOffset UtcNow => time.GetUtcNow();
    }
}
