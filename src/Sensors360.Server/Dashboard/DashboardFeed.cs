using System.Reactive.Linq;
using System.Reactive.Subjects;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Server.Http;

namespace Sensors360.Server.Dashboard;

/// <summary>
/// This silo's one subscription to the dashboard grain, fanned out to its local sockets with Rx: pure
/// fan-out of what the grain pushes (the fleet with its open alerts, and every alert change); it never
/// reads the database. The subscription is renewed every minute (observer subscriptions expire), so a
/// restarted dashboard grain or a lost message heals by itself.
/// </summary>
public sealed partial class DashboardFeed(IGrainFactory grains, ServerDrain drain, ILogger<DashboardFeed> logger)
    : BackgroundService, IDashboardObserver
{
    private static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(2);

    private readonly BehaviorSubject<DashboardSnapshot?> _snapshots = new(null);
    private readonly Subject<Alert> _alerts = new();
    // Observer calls may arrive concurrently; subjects take one OnNext at a time.
    private readonly Lock _gate = new();
    private SerializedSnapshot? _lastSerialized;

    /// <summary>The latest snapshot at once, then every change (replayed to late subscribers).</summary>
    public IObservable<DashboardSnapshot> Snapshots => _snapshots.Where(snapshot => snapshot is not null).Select(snapshot => snapshot!);

    /// <summary>
    /// The snapshot message as UTF-8 JSON, serialized once per snapshot for all of this silo's sockets (with
    /// thousands of sockets, serializing it per socket cost more than sending it).
    /// </summary>
    public byte[] SnapshotJson(DashboardSnapshot snapshot)
    {
        var last = Volatile.Read(ref _lastSerialized);
        if (last is not null && ReferenceEquals(last.Snapshot, snapshot))
        {
            return last.Json;
        }

        // Two sockets may serialize the same new snapshot at once; both results are equal, either may stay.
        var json = SnapshotMessage.From(snapshot).ToUtf8Json();
        Volatile.Write(ref _lastSerialized, new SerializedSnapshot(snapshot, json));
        return json;
    }

    /// <summary>The fleet's open alerts as of the latest snapshot; null before the first one arrived.</summary>
    public int? OpenAlerts => _snapshots.Value?.Fleet.OpenAlerts;

    /// <summary>Alerts as they are raised, resolved and acknowledged.</summary>
    public IObservable<Alert> Alerts => _alerts.AsObservable();

    Task IDashboardObserver.SnapshotChanged(DashboardSnapshot snapshot)
    {
        Publish(snapshot);
        return Task.CompletedTask;
    }

    Task IDashboardObserver.AlertChanged(Alert alert)
    {
        lock (_gate)
        {
            _alerts.OnNext(alert);
        }

        return Task.CompletedTask;
    }

    private void Publish(DashboardSnapshot snapshot)
    {
        lock (_gate)
        {
            _snapshots.OnNext(snapshot);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var self = grains.CreateObjectReference<IDashboardObserver>(this);
        var dashboard = grains.GetGrain<IDashboardGrain>(0);
        // Ended before this silo leaves: the dashboard grain would otherwise call the departed feed until it expires.
        drain.BeforeLeaving(_ => dashboard.Unsubscribe(self));
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
                        Publish(await dashboard.GetSnapshot());
                    }
                }
                // A database failure comes through too when the dashboard grain could not activate (e.g. a restart
                // that wakes thousands of sensor grains at once drains the pool): retried, never the end of the host.
                catch (Exception e) when (e is OrleansException or TimeoutException or Npgsql.NpgsqlException)
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

    public override void Dispose()
    {
        _snapshots.Dispose();
        _alerts.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not subscribe to the dashboard grain, retrying: {Reason}")]
    private static partial void LogSubscribeFailed(ILogger logger, string reason);

    private sealed record SerializedSnapshot(DashboardSnapshot Snapshot, byte[] Json);
}
