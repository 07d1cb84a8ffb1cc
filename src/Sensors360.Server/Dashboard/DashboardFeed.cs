using System.Reactive.Linq;
using System.Reactive.Subjects;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Grains.Alerts;

namespace Sensors360.Server.Dashboard;

/// <summary>What a socket sends as a <c>snapshot</c>: the fleet and its open alerts.</summary>
public sealed record DashboardSnapshot(FleetSnapshot Fleet, IReadOnlyList<AlertNotice> Alerts);

/// <summary>
/// This silo's one subscription to the dashboard grain, fanned out to its local sockets with Rx. The
/// subscription is renewed every minute (observer subscriptions expire), so a restarted dashboard
/// grain or a lost message heals by itself.
/// </summary>
public sealed partial class DashboardFeed(IGrainFactory grains, AlertLedger alerts, ILogger<DashboardFeed> logger)
    : BackgroundService, IDashboardObserver
{
    private const int MaxAlertsInSnapshot = 100;
    private static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(2);

    private readonly Subject<FleetSnapshot> _fleet = new();
    private readonly BehaviorSubject<DashboardSnapshot?> _snapshots = new(null);
    private readonly Subject<AlertNotice> _alerts = new();

    /// <summary>The latest snapshot at once, then every change (replayed to late subscribers).</summary>
    public IObservable<DashboardSnapshot> Snapshots => _snapshots.Where(snapshot => snapshot is not null).Select(snapshot => snapshot!);

    /// <summary>Alerts as they are raised and resolved.</summary>
    public IObservable<AlertNotice> Alerts => _alerts.AsObservable();

    Task IDashboardObserver.FleetChanged(FleetSnapshot fleet)
    {
        _fleet.OnNext(fleet);
        return Task.CompletedTask;
    }

    Task IDashboardObserver.AlertChanged(AlertNotice alert)
    {
        _alerts.OnNext(alert);
        return Task.CompletedTask;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Each fleet change is paired with the open alerts read once per silo, never once per socket;
        // a slow read is overtaken by the next change rather than queued behind it.
        using var pairing = _fleet
            .Select(fleet => Observable.FromAsync(token => WithOpenAlertsAsync(fleet, token)))
            .Switch()
            .Subscribe(_snapshots.OnNext, error => LogFeedFailed(logger, error.Message));

        var self = grains.CreateObjectReference<IDashboardObserver>(this);
        var dashboard = grains.GetGrain<IDashboardGrain>(0);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var wait = RenewEvery;
                try
                {
                    await dashboard.Subscribe(self);
                    if (_snapshots.Value is null)
                    {
                        _fleet.OnNext(await dashboard.GetFleet());
                    }
                }
                catch (Exception e) when (e is OrleansException or TimeoutException)
                {
                    LogSubscribeFailed(logger, e.Message);
                    wait = RetryEvery;
                }

                await Task.Delay(wait, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            grains.DeleteObjectReference<IDashboardObserver>(self);
        }
    }

    private async Task<DashboardSnapshot> WithOpenAlertsAsync(FleetSnapshot fleet, CancellationToken cancellationToken)
    {
        try
        {
            var open = await alerts.ListAsync(AlertState.Open, sensorId: null, beforeId: null, MaxAlertsInSnapshot, cancellationToken);
            return new DashboardSnapshot(fleet, [.. open.Select(alert =>
                new AlertNotice(alert.Id, alert.SensorId, alert.Kind, alert.SilentSince, alert.RaisedAt, alert.ResolvedAt))]);
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
        {
            // Without the database the fleet numbers still flow; the alert list keeps its last value.
            LogFeedFailed(logger, e.Message);
            return new DashboardSnapshot(fleet, _snapshots.Value?.Alerts ?? []);
        }
    }

    public override void Dispose()
    {
        _fleet.Dispose();
        _snapshots.Dispose();
        _alerts.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not subscribe to the dashboard grain, retrying: {Reason}")]
    private static partial void LogSubscribeFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dashboard feed: {Reason}")]
    private static partial void LogFeedFailed(ILogger logger, string reason);
}
