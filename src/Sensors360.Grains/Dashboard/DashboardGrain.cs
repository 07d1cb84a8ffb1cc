using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Utilities;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Grains.Alerts;
using Sensors360.Abstractions.Analytics;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Dashboard;

/// <summary>
/// Holds the fleet aggregate and the newest open alerts, and pushes both to every silo's feed. Counts,
/// lifespans, the all-time interval and the open alerts come from the database (read when the grain
/// activates, within a second of any sensor or alert change, and every few seconds regardless; at a fleet so large
/// that one read takes long, the next waits three times as long as it took); between
/// reads, every alert change the sensor grains report updates the list at once and goes out to the feeds
/// as it is. Heartbeat rates and recent intervals come from the silos' per-second tallies, so no single
/// grain ever sits on the per-heartbeat path.
/// </summary>
public sealed partial class DashboardGrain(
    FleetStore store,
    AlertStore alerts,
    [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
    TimeProvider silo,
    ILogger<DashboardGrain> logger) : Grain, IDashboardGrain
{
    // After a reconcile, the next one waits at least this many times as long as its count took: at a small fleet (milliseconds)
    // nothing changes, at a large one (a whole-fleet count of seconds) it takes at most a quarter of a database core,
    // however fast sensors come online.
    private const int ReconcileRest = 3;
    // Bounds that wait when a read hung on a failing database before it gave up.
    private static readonly TimeSpan MaxReconcileRest = TimeSpan.FromSeconds(10);
    // A database that is down fails a reconcile at once: without this least wait, every tick would try again and log it.
    private static readonly TimeSpan RestAfterFailure = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ReconcileEvery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PushAtLeastEvery = TimeSpan.FromSeconds(4);
    private const int RecentSeconds = 300;
    private const int RateSeconds = 10;

    /// <summary>Open alerts held and pushed: the newest this many (the count covers them all).</summary>
    public const int MaxAlerts = 100;

    // Enough resolved ids to recognise any raise or acknowledgement still in flight for them.
    private const int RememberResolvedAlerts = 10_000;

    private readonly ObserverManager<IDashboardObserver> _observers = new(TimeSpan.FromMinutes(2), logger);
    private readonly SortedDictionary<long, HeartbeatTallySecond> _seconds = [];
    private FleetRecord _record = new(new SensorCounts(0, 0, 0, 0, 0), 0, 0, null, null);
    private LifespanReport? _lifespan;
    private readonly Dictionary<long, Alert> _openAlerts = [];
    private int _openAlertCount;
    // The open alerts as pushed, newest first; null after a change until the next push builds it again.
    private Alert[]? _newestAlerts;
    private readonly HashSet<long> _recentlyResolved = [];
    private readonly Queue<long> _resolvedOrder = new();
    // Intervals tallied since the last reconcile, on top of the database's totals.
    private double _intervalSumSinceReconcile;
    private long _intervalsSinceReconcile;
    private long _seededUntilSecond;
    private bool _dirty;
    private DateTimeOffset _reconciledAt;
    // The last whole-fleet count's duration and end, on the silo's clock (the monitoring clock may be a test's).
    private TimeSpan _reconcileTook;
    private long _reconcileEnded;
    private bool _reconcileFailed;
    private DateTimeOffset _pushedAt;
    private FleetSnapshot? _pushed;
    private bool _alertsChanged;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await ReconcileAsync(now);
        _seededUntilSecond = now.ToUnixTimeSeconds();
        foreach (var second in await store.ReadRecentAsync(now.AddSeconds(-RecentSeconds), DateTimeOffset.FromUnixTimeSeconds(_seededUntilSecond), cancellationToken))
        {
            _seconds[second.UnixSecond] = second;
        }

        this.RegisterGrainTimer(OnTickAsync, new GrainTimerCreationOptions(Tick, Tick));
    }

    public Task<FleetSnapshot> GetFleet() => Task.FromResult(Compute(clock.GetUtcNow()));

    public Task<DashboardSnapshot> GetSnapshot() => Task.FromResult(new DashboardSnapshot(Compute(clock.GetUtcNow()), NewestAlerts()));

    public Task SensorChanged()
    {
        _dirty = true;
        return Task.CompletedTask;
    }

    public Task AlertChanged(Alert alert)
    {
        // The count and anything beyond the newest few come with the reconcile this triggers.
        _dirty = true;
        return Settle(alert) is { } settled
            ? _observers.Notify(observer => observer.AlertChanged(settled))
            : Task.CompletedTask;
    }

    /// <summary>
    /// Applies an alert change to the held list and returns what the feeds should hear, or null for a stale
    /// message: one-way calls may overtake each other, so a raise or acknowledgement that arrives after its
    /// resolution, or an unacknowledged copy after the acknowledged one, is dropped rather than undoing it.
    /// </summary>
    private Alert? Settle(Alert alert)
    {
        _openAlerts.TryGetValue(alert.Id, out var held);
        if (alert.ResolvedAt is not null)
        {
            RememberResolved(alert.Id);
            ChangeAlerts(_openAlerts.Remove(alert.Id));
            return held is { AcknowledgedAt: not null } && alert.AcknowledgedAt is null
                ? alert with { AcknowledgedAt = held.AcknowledgedAt, AcknowledgedBy = held.AcknowledgedBy }
                : alert;
        }

        if (_recentlyResolved.Contains(alert.Id) || (held is { AcknowledgedAt: not null } && alert.AcknowledgedAt is null))
        {
            return null;
        }

        if (held is not null || _openAlerts.Count < MaxAlerts || IsNewer(alert, _openAlerts.Values.MinBy(Newness)!))
        {
            _openAlerts[alert.Id] = alert;
            if (_openAlerts.Count > MaxAlerts)
            {
                _openAlerts.Remove(_openAlerts.Values.MinBy(Newness)!.Id);
            }

            ChangeAlerts(true);
        }

        return alert;
    }

    private void RememberResolved(long alertId)
    {
        if (_recentlyResolved.Add(alertId))
        {
            _resolvedOrder.Enqueue(alertId);
            if (_resolvedOrder.Count > RememberResolvedAlerts)
            {
                _recentlyResolved.Remove(_resolvedOrder.Dequeue());
            }
        }
    }

    public Task ReportHeartbeats(HeartbeatTallySecond[] seconds)
    {
        foreach (var second in seconds)
        {
            // Seconds read from the database at activation are already counted.
            if (second.UnixSecond < _seededUntilSecond)
            {
                continue;
            }

            _seconds[second.UnixSecond] = _seconds.TryGetValue(second.UnixSecond, out var known)
                ? new HeartbeatTallySecond(second.UnixSecond, known.Heartbeats + second.Heartbeats,
                    known.IntervalSecondsSum + second.IntervalSecondsSum, known.Intervals + second.Intervals)
                : second;
            _intervalSumSinceReconcile += second.IntervalSecondsSum;
            _intervalsSinceReconcile += second.Intervals;
        }

        return Task.CompletedTask;
    }

    public Task Subscribe(IDashboardObserver observer)
    {
        _observers.Subscribe(observer, observer);
        return Task.CompletedTask;
    }

    public Task Unsubscribe(IDashboardObserver observer)
    {
        _observers.Unsubscribe(observer);
        return Task.CompletedTask;
    }

    private async Task OnTickAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if ((_dirty || now - _reconciledAt >= ReconcileEvery) && Rested())
        {
            // Until it succeeds: a failure of any kind rests before the next try.
            _reconcileFailed = true;
            try
            {
                await ReconcileAsync(now);
                _reconcileFailed = false;
            }
            catch (Exception e) when (DatabaseFailure.Is(e) || e is OrleansException)
            {
                // Keep serving the last known numbers, and the change that asked for this reconcile: a later tick tries again.
                _dirty = true;
                LogReconcileFailed(logger, e.Message);
            }
        }

        var oldest = now.ToUnixTimeSeconds() - RecentSeconds;
        while (_seconds.Count > 0 && _seconds.First().Key < oldest)
        {
            _seconds.Remove(_seconds.First().Key);
        }

        var fleet = Compute(now);
        if (_pushed is null || _alertsChanged || !SameNumbers(fleet, _pushed) || now - _pushedAt >= PushAtLeastEvery)
        {
            _pushed = fleet;
            _pushedAt = now;
            _alertsChanged = false;
            var snapshot = new DashboardSnapshot(fleet, NewestAlerts());
            await _observers.Notify(observer => observer.SnapshotChanged(snapshot));
        }
    }

    private bool Rested()
    {
        var rest = _reconcileTook * ReconcileRest;
        if (_reconcileFailed && rest < RestAfterFailure)
        {
            rest = RestAfterFailure;
        }

        return silo.GetElapsedTime(_reconcileEnded) >= (rest < MaxReconcileRest ? rest : MaxReconcileRest);
    }

    private async Task ReconcileAsync(DateTimeOffset now)
    {
        _dirty = false;
        var started = silo.GetTimestamp();
        try
        {
            _record = await store.ReadAsync(CancellationToken.None);
        }
        finally
        {
            // Only the whole-fleet count is timed: it is what grows with the fleet.
            _reconcileTook = silo.GetElapsedTime(started);
            _reconcileEnded = silo.GetTimestamp();
        }

        // The whole fleet's estimate, as its own grain keeps it (refreshed every 30 s there).
        _lifespan = await GrainFactory.GetGrain<ILifespanGrain>(ILifespanGrain.WholeFleet).GetLifespan();

        var open = await alerts.ReadOpenAsync(MaxAlerts, CancellationToken.None);
        _openAlertCount = open.Count;
        ChangeAlerts(open.Newest.Count != _openAlerts.Count || open.Newest.Any(alert => _openAlerts.GetValueOrDefault(alert.Id) != alert));
        _openAlerts.Clear();
        foreach (var alert in open.Newest)
        {
            _openAlerts[alert.Id] = alert;
        }

        _intervalSumSinceReconcile = 0;
        _intervalsSinceReconcile = 0;
        _reconciledAt = now;
    }

    private FleetSnapshot Compute(DateTimeOffset now)
    {
        var sensors = _record.Sensors;
        var reporting = sensors.Online + sensors.Silent;
        var intervals = _record.Intervals + _intervalsSinceReconcile;
        var recent = _seconds.Values.Where(second => second.UnixSecond >= now.ToUnixTimeSeconds() - RecentSeconds).ToList();
        var recentIntervals = recent.Sum(second => second.Intervals);
        // The current second is still being counted on the silos: rate over the ten full seconds before it.
        var rateFrom = now.ToUnixTimeSeconds() - RateSeconds - 1;
        var rateUntil = now.ToUnixTimeSeconds() - 1;
        var beats = recent.Where(second => second.UnixSecond >= rateFrom && second.UnixSecond < rateUntil).Sum(second => second.Heartbeats);
        return new FleetSnapshot(
            sensors,
            reporting == 0 ? 0 : Math.Round(sensors.Silent * 100.0 / reporting, 2),
            intervals == 0 ? null : Math.Round((_record.IntervalSecondsSum + _intervalSumSinceReconcile) / intervals, 3),
            recentIntervals == 0 ? null : Math.Round(recent.Sum(second => second.IntervalSecondsSum) / recentIntervals, 3),
            _record.MedianIntervalSeconds is { } median ? Math.Round(median, 3) : null,
            _record.P95IntervalSeconds is { } p95 ? Math.Round(p95, 3) : null,
            _lifespan?.MeanSeconds,
            _lifespan?.MeanCi95,
            Math.Round(beats / (double)RateSeconds, 1),
            _openAlertCount,
            now);
    }

    private Alert[] NewestAlerts() => _newestAlerts ??= [.. _openAlerts.Values.OrderByDescending(Newness)];

    private void ChangeAlerts(bool changed)
    {
        if (changed)
        {
            _newestAlerts = null;
            _alertsChanged = true;
        }
    }

    /// <summary>Newest first means last raised first, the id breaking ties (as the database orders them).</summary>
    private static (DateTimeOffset, long) Newness(Alert alert) => (alert.RaisedAt, alert.Id);

    private static bool IsNewer(Alert alert, Alert than) => Newness(alert).CompareTo(Newness(than)) > 0;

    private static bool SameNumbers(FleetSnapshot a, FleetSnapshot b) =>
        a with { At = b.At, MeanLifespanCi95 = b.MeanLifespanCi95 } == b
        && (a.MeanLifespanCi95 ?? []).SequenceEqual(b.MeanLifespanCi95 ?? []);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not reconcile the fleet with the database: {Reason}")]
    private static partial void LogReconcileFailed(ILogger logger, string reason);
}
