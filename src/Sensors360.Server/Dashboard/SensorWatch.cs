using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Sensors;

namespace Sensors360.Server.Dashboard;

/// <summary>
/// This silo's watch on the sensors its sockets subscribed to: one observer for the silo, one watch per
/// sensor however many sockets want it, renewed every minute, dropped when the last socket lets go.
/// A change goes only to the sockets watching that sensor, looked up by id: not through one Rx subject
/// that every socket subscribes to and filters, which cost each open and close O(n) and each change a
/// call per socket on the silo (docs/performance.md "Live feed cost").
/// </summary>
public sealed partial class SensorWatch(IGrainFactory grains, SensorDirectory directory, ILogger<SensorWatch> logger) : BackgroundService, ISensorObserver
{
    private static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(60);

    private readonly Dictionary<string, Watched> _watched = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private ISensorObserver? _self;

    /// <summary>Every heartbeat and state change of a watched sensor, serialized once for the sockets watching it.</summary>
    Task ISensorObserver.SensorChanged(SensorSnapshot sensor)
    {
        DashboardSocket[] sockets;
        lock (_gate)
        {
            if (!_watched.TryGetValue(sensor.Id, out var watched) || watched.Sockets.Count == 0)
            {
                return Task.CompletedTask;
            }

            sockets = [.. watched.Sockets];
        }

        var json = new SensorMessage(SensorResponse.From(sensor)).ToUtf8Json();
        foreach (var socket in sockets)
        {
            socket.Deliver(json);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// The ids that name no sensor, found without activating a grain: a sensor this silo already watches exists
    /// (sensors are never deleted); the rest are looked up in one query on the <c>sensor</c> table.
    /// </summary>
    public async Task<IReadOnlyList<string>> FindUnknownAsync(IReadOnlyCollection<string> sensorIds)
    {
        List<string> unwatched;
        lock (_gate)
        {
            unwatched = [.. sensorIds.Where(id => !_watched.ContainsKey(id))];
        }

        if (unwatched.Count == 0)
        {
            return [];
        }

        var existing = await directory.FindExistingAsync(unwatched, CancellationToken.None);
        return [.. unwatched.Where(id => !existing.Contains(id))];
    }

    /// <summary>Adds <paramref name="socket"/> to the sensor's watchers; done once the sensor's grain was told this silo watches it.</summary>
    internal Task WatchAsync(string sensorId, DashboardSocket socket) => ChangeAsync(sensorId, watched => watched.Sockets.Add(socket));

    /// <summary>Removes <paramref name="socket"/>; the last one to go has the grain told this silo no longer watches.</summary>
    internal Task UnwatchAsync(string sensorId, DashboardSocket socket) => ChangeAsync(sensorId, watched => watched.Sockets.Remove(socket));

    /// <summary>
    /// Changes a sensor's watchers, then tells its grain whether this silo watches it, one call at a time per sensor
    /// and again until the grain was last told what the watchers now want. Two calls at once (an unwatch and a watch
    /// of the same sensor from two sockets) could reach the grain in either order and leave a watched sensor
    /// unwatched until the minute's renewal.
    /// </summary>
    private async Task ChangeAsync(string sensorId, Action<Watched> change)
    {
        Watched watched;
        Task telling;
        var tell = false;
        lock (_gate)
        {
            if (!_watched.TryGetValue(sensorId, out watched!))
            {
                watched = new Watched();
                _watched.Add(sensorId, watched);
            }

            change(watched);
            if (watched.Telling is null)
            {
                watched.Telling = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                tell = true;
            }

            telling = watched.Telling.Task;
        }

        if (tell)
        {
            try
            {
                await TellUntilSettledAsync(sensorId, watched);
            }
            catch (Exception e)
            {
                // Whoever waits must not wait forever, and the next change tells the grain afresh.
                lock (_gate)
                {
                    watched.Telling?.TrySetException(e);
                    watched.Telling = null;
                }

                throw;
            }
        }

        await telling;
    }

    private async Task TellUntilSettledAsync(string sensorId, Watched watched)
    {
        while (true)
        {
            bool wanted;
            lock (_gate)
            {
                wanted = watched.Sockets.Count > 0;
                if (wanted == watched.Told)
                {
                    if (!wanted)
                    {
                        _watched.Remove(sensorId);
                    }

                    var telling = watched.Telling!;
                    watched.Telling = null;
                    telling.SetResult();
                    return;
                }
            }

            var grain = grains.GetGrain<ISensorGrain>(sensorId);
            try
            {
                await (wanted ? grain.Watch(Self) : grain.Unwatch(Self));
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                // Taken as told: a watch that failed is made again by the minute's renewal, and one left behind expires.
                LogTellFailed(logger, sensorId, e.Message);
            }

            lock (_gate)
            {
                watched.Told = wanted;
            }
        }
    }

    private ISensorObserver Self => _self ??= grains.CreateObjectReference<ISensorObserver>(this);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(RenewEvery, stoppingToken);
                string[] watched;
                lock (_gate)
                {
                    watched = [.. _watched.Where(pair => pair.Value.Sockets.Count > 0).Select(pair => pair.Key)];
                }

                foreach (var sensorId in watched)
                {
                    try
                    {
                        await grains.GetGrain<ISensorGrain>(sensorId).Watch(Self);
                    }
                    catch (Exception e) when (e is OrleansException or TimeoutException)
                    {
                        LogRenewFailed(logger, sensorId, e.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not renew the watch on sensor {Sensor}: {Reason}")]
    private static partial void LogRenewFailed(ILogger logger, string sensor, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not tell sensor {Sensor} whether this silo watches it: {Reason}")]
    private static partial void LogTellFailed(ILogger logger, string sensor, string reason);

    /// <summary>One sensor's watchers on this silo, and what its grain was last told.</summary>
    private sealed class Watched
    {
        public HashSet<DashboardSocket> Sockets { get; } = [];

        /// <summary>Whether the grain was last told this silo watches the sensor.</summary>
        public bool Told { get; set; }

        /// <summary>Completes when the grain was told what the watchers want; null while nobody is telling it.</summary>
        public TaskCompletionSource? Telling { get; set; }
    }
}
