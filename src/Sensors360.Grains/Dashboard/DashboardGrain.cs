using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Utilities;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Dashboard;

/// <summary>
/// Holds the fleet aggregate and tells every silo's feed when it changes. Counts, lifespans and the
/// all-time interval come from the database (read when the grain activates, within a second of any
/// sensor state change, and every few seconds regardless); heartbeat rates and recent intervals come
/// from the silos' per-second tallies, so no single grain ever sits on the per-heartbeat path.
/// </summary>
public sealed partial class DashboardGrain(
    FleetStore store,
    [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
    ILogger<DashboardGrain> logger) : Grain, IDashboardGrain
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ReconcileEvery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PushAtLeastEvery = TimeSpan.FromSeconds(4);
    private const int RecentSeconds = 300;
    private const int RateSeconds = 10;

    private readonly ObserverManager<IDashboardObserver> _observers = new(TimeSpan.FromMinutes(2), logger);
    private readonly SortedDictionary<long, HeartbeatTallySecond> _seconds = [];
    private FleetRecord _record = new(new SensorCounts(0, 0, 0, 0, 0), 0, 0, null, 0);
    // Intervals tallied since the last reconcile, on top of the database's totals.
    private double _intervalSumSinceReconcile;
    private long _intervalsSinceReconcile;
    private long _seededUntilSecond;
    private bool _dirty;
    private DateTimeOffset _reconciledAt;
    private DateTimeOffset _pushedAt;
    private FleetSnapshot? _pushed;

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

    public Task SensorChanged()
    {
        _dirty = true;
        return Task.CompletedTask;
    }

    public Task AlertChanged(AlertNotice alert)
    {
        _dirty = true;
        return _observers.Notify(observer => observer.AlertChanged(alert));
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
        if (_dirty || now - _reconciledAt >= ReconcileEvery)
        {
            try
            {
                await ReconcileAsync(now);
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
            {
                // Keep serving the last known numbers; the next tick tries again.
                LogReconcileFailed(logger, e.Message);
            }
        }

        var oldest = now.ToUnixTimeSeconds() - RecentSeconds;
        while (_seconds.Count > 0 && _seconds.First().Key < oldest)
        {
            _seconds.Remove(_seconds.First().Key);
        }

        var snapshot = Compute(now);
        if (_pushed is null || !SameNumbers(snapshot, _pushed) || now - _pushedAt >= PushAtLeastEvery)
        {
            _pushed = snapshot;
            _pushedAt = now;
            await _observers.Notify(observer => observer.FleetChanged(snapshot));
        }
    }

    private async Task ReconcileAsync(DateTimeOffset now)
    {
        _dirty = false;
        _record = await store.ReadAsync(CancellationToken.None);
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
            _record.MeanLifespanSeconds is { } lifespan ? Math.Round(lifespan, 1) : null,
            Math.Round(beats / (double)RateSeconds, 1),
            _record.OpenAlerts,
            now);
    }

    private static bool SameNumbers(FleetSnapshot a, FleetSnapshot b) => a with { At = b.At } == b;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not reconcile the fleet with the database: {Reason}")]
    private static partial void LogReconcileFailed(ILogger logger, string reason);
}
