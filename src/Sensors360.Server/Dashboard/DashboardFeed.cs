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

    // Each slice's sockets get their snapshot at its own tenth of the second: 10,000 sockets sent in one burst kept the
    // transport's I/O threads, which the heartbeats' connections share, from them for a few hundred milliseconds every
    // second (docs/performance.md "Live feed cost").
    private const int Slices = 10;

    /// <summary>
    /// Longest a socket goes without a snapshot while the silo has one: when the dashboard grain's pushes stop, the
    /// latest is sent again, so proxies keep the connection (docs/websocket.md). This replaces the WebSocket's own
    /// keep-alive, a timer per socket (docs/performance.md "Live feed cost").
    /// </summary>
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(20);

    private readonly LatestFanOut<FeedFrames, DashboardSocket> _snapshots =
        new(socket => socket.Pump(), Slices, repeatAfterTicks: (int)(KeepAlive / SnapshotEvery));
    // Observer calls may arrive concurrently; alert frames are linked in one order, which every socket follows.
    private readonly Lock _alertGate = new();
    private AlertFrame _lastAlert = new(0, []);
    // Walks asked for since the running one began; 0 while none runs.
    private int _walkRequests;

    /// <summary>
    /// Joins a socket: it may take the latest frames at once and one a second after, and every alert frame linked
    /// after <paramref name="lastAlert"/> (<see cref="AlertFrame.Next"/>). Dispose to leave.
    /// </summary>
    internal LatestFanOut<FeedFrames, DashboardSocket>.Subscription Join(DashboardSocket socket, out AlertFrame lastAlert)
    {
        // Under the gate, so no alert falls between the place the socket starts from and its joining the walks.
        lock (_alertGate)
        {
            lastAlert = _lastAlert;
            return _snapshots.Join(socket);
        }
    }

    /// <summary>The sequence number of the newest alert frame: how far behind a socket is.</summary>
    internal long AlertFrames => Volatile.Read(ref _lastAlert).Sequence;

    /// <summary>The fleet's open alerts as of the latest snapshot; null before the first one arrived.</summary>
    public int? OpenAlerts => _snapshots.Latest?.Snapshot.Fleet.OpenAlerts;

    Task IDashboardObserver.SnapshotChanged(DashboardSnapshot snapshot)
    {
        Publish(snapshot);
        return Task.CompletedTask;
    }

    Task IDashboardObserver.AlertChanged(Alert alert)
    {
        // Serialized once, linked after the last one; the sockets send it from one walk (see Walk).
        var json = new AlertMessage(alert).ToUtf8Json();
        lock (_alertGate)
        {
            var frame = new AlertFrame(_lastAlert.Sequence + 1, json);
            _lastAlert.Link(frame);
            Volatile.Write(ref _lastAlert, frame);
        }

        if (Interlocked.Increment(ref _walkRequests) == 1)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static feed => feed.Walk(), this, preferLocal: false);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Lets every idle socket send the alert frames it has not sent, on this one thread. Alerts that change while a
    /// walk runs are sent by the next walk, however many they are: a storm of alert changes (a mass silence and
    /// recovery) costs one walk after another, not a work item per socket and alert flooding the thread pool that the
    /// heartbeats need (docs/performance.md "Live feed cost").
    /// </summary>
    private void Walk()
    {
        int requests;
        do
        {
            requests = Volatile.Read(ref _walkRequests);
            _snapshots.ForEachReceiver(static socket => socket.Pump());
        }
        while (Interlocked.Add(ref _walkRequests, -requests) > 0);
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

    /// <summary>Lets every socket behind the latest snapshot take it now (a whole second's ticks at once).</summary>
    internal void Tick() => _snapshots.Tick();

    /// <summary>Once a second, lets every socket behind the latest snapshot take it: a slice of them every tenth of it.</summary>
    internal async Task PaceAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SnapshotEvery / Slices, time);
        try
        {
            for (var slice = 0; await timer.WaitForNextTickAsync(stoppingToken); slice = (slice + 1) % Slices)
            {
                _snapshots.TickSlice(slice);
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

/// <summary>
/// One alert frame in the order this silo's feed received them, linked to the next: each socket keeps the last one it
/// sent and follows the links, so an alert is held once for all sockets, as long as the slowest still needs it.
/// </summary>
internal sealed class AlertFrame(long sequence, byte[] json)
{
    private AlertFrame? _next;

    public long Sequence => sequence;

    /// <summary>The <c>alert</c> frame as UTF-8 JSON.</summary>
    public byte[] Json => json;

    /// <summary>The alert frame after this one; null while this is the newest.</summary>
    public AlertFrame? Next => Volatile.Read(ref _next);

    public void Link(AlertFrame next) => Volatile.Write(ref _next, next);
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
