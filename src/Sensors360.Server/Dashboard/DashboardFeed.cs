using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Server.Http;

namespace Sensors360.Server.Dashboard;

/// <summary>
/// This silo's one subscription to the dashboard grain, fanned out to its local sockets: pure fan-out of
/// what the grain pushes (the fleet with its open alerts, and every alert change); it never reads the
/// database. Each socket gets the latest snapshot when it connects, then at most one a second (the newest;
/// <see cref="LatestFanOut{TValue, TReceiver}"/>), and every alert change in order. The subscription is
/// renewed every minute (observer subscriptions expire), so a restarted dashboard grain or a lost message
/// heals by itself.
/// </summary>
public sealed partial class DashboardFeed(IGrainFactory grains, ServerDrain drain, TimeProvider time, ILogger<DashboardFeed> logger)
    : BackgroundService, IDashboardObserver
{
    /// <summary>How often a socket may get a snapshot (docs/websocket.md).</summary>
    public static readonly TimeSpan SnapshotEvery = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(2);

    private readonly LatestFanOut<FeedFrames, DashboardSocket> _snapshots = new(socket => socket.SnapshotDue());
    // Observer calls may arrive concurrently; alerts reach every socket in one order.
    private readonly Lock _alertGate = new();

    /// <summary>
    /// Joins a socket: it may take the latest frames at once and one a second after, and from now on is handed
    /// every alert change (<see cref="DashboardSocket.Deliver"/>). Dispose to leave.
    /// </summary>
    internal LatestFanOut<FeedFrames, DashboardSocket>.Subscription Join(DashboardSocket socket) => _snapshots.Join(socket);

    /// <summary>The fleet's open alerts as of the latest snapshot; null before the first one arrived.</summary>
    public int? OpenAlerts => _snapshots.Latest?.Snapshot.Fleet.OpenAlerts;

    Task IDashboardObserver.SnapshotChanged(DashboardSnapshot snapshot)
    {
        Publish(snapshot);
        return Task.CompletedTask;
    }

    Task IDashboardObserver.AlertChanged(Alert alert)
    {
        // Serialized once for all sockets; alerts are few, so walking the sockets under the lock keeps their order cheaply.
        var json = new AlertMessage(alert).ToUtf8Json();
        lock (_alertGate)
        {
            _snapshots.ForEachReceiver(socket => socket.Deliver(json));
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Serializes the snapshot once for all of this silo's sockets (per socket, with thousands of sockets, it cost more
    /// than sending it), and the alert list only when it changed: unchanged, the sockets that sent it skip it.
    /// </summary>
    private void Publish(DashboardSnapshot snapshot)
    {
        var previous = _snapshots.Latest?.Alerts;
        var alerts = previous is not null && previous.Lists(snapshot) ? previous : AlertListFrame.Of(snapshot);
        _snapshots.Publish(new FeedFrames(snapshot, SnapshotMessage.From(snapshot).ToUtf8Json(), alerts));
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(KeepSubscribedAsync(stoppingToken), PaceAsync(stoppingToken));

    /// <summary>Lets every socket behind the latest snapshot take it now (called once a second).</summary>
    internal void Tick() => _snapshots.Tick();

    /// <summary>Once a second, lets every socket behind the latest snapshot take it.</summary>
    private async Task PaceAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SnapshotEvery, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Tick();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task KeepSubscribedAsync(CancellationToken stoppingToken)
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
                    if (_snapshots.Latest is null)
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not subscribe to the dashboard grain, retrying: {Reason}")]
    private static partial void LogSubscribeFailed(ILogger logger, string reason);
}

/// <summary>The open alerts' frame; a socket sends it when it holds another one than it sent last (compared by reference).</summary>
internal sealed class AlertListFrame
{
    private AlertListFrame(int openAlerts, Alert[] alerts, byte[] json)
    {
        OpenAlerts = openAlerts;
        Alerts = alerts;
        Json = json;
    }

    public int OpenAlerts { get; }

    public Alert[] Alerts { get; }

    /// <summary>The <c>alerts</c> frame as UTF-8 JSON.</summary>
    public byte[] Json { get; }

    public static AlertListFrame Of(DashboardSnapshot snapshot) =>
        new(snapshot.Fleet.OpenAlerts, snapshot.Alerts, AlertListMessage.From(snapshot).ToUtf8Json());

    /// <summary>Whether this frame says what <paramref name="snapshot"/> says about the open alerts.</summary>
    public bool Lists(DashboardSnapshot snapshot) => OpenAlerts == snapshot.Fleet.OpenAlerts && Alerts.AsSpan().SequenceEqual(snapshot.Alerts);
}

/// <summary>One fleet snapshot as this silo's sockets send it: the <c>snapshot</c> frame and the alert list's frame, each serialized once.</summary>
internal sealed record FeedFrames(DashboardSnapshot Snapshot, byte[] SnapshotJson, AlertListFrame Alerts);
