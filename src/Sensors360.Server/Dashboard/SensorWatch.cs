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

    private readonly Dictionary<string, HashSet<DashboardSocket>> _watchers = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private ISensorObserver? _self;

    /// <summary>Every heartbeat and state change of a watched sensor, serialized once for the sockets watching it.</summary>
    Task ISensorObserver.SensorChanged(SensorSnapshot sensor)
    {
        DashboardSocket[] sockets;
        lock (_gate)
        {
            if (!_watchers.TryGetValue(sensor.Id, out var watching))
            {
                return Task.CompletedTask;
            }

            sockets = [.. watching];
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
            unwatched = [.. sensorIds.Where(id => !_watchers.ContainsKey(id))];
        }

        if (unwatched.Count == 0)
        {
            return [];
        }

        var existing = await directory.FindExistingAsync(unwatched, CancellationToken.None);
        return [.. unwatched.Where(id => !existing.Contains(id))];
    }

    internal async Task WatchAsync(string sensorId, DashboardSocket socket)
    {
        bool first;
        lock (_gate)
        {
            first = !_watchers.TryGetValue(sensorId, out var watching);
            if (first)
            {
                watching = [];
                _watchers.Add(sensorId, watching);
            }

            watching!.Add(socket);
        }

        if (first)
        {
            await grains.GetGrain<ISensorGrain>(sensorId).Watch(Self);
        }
    }

    internal async Task UnwatchAsync(string sensorId, DashboardSocket socket)
    {
        bool last;
        lock (_gate)
        {
            if (!_watchers.TryGetValue(sensorId, out var watching) || !watching.Remove(socket))
            {
                return;
            }

            last = watching.Count == 0;
            if (last)
            {
                _watchers.Remove(sensorId);
            }
        }

        if (last)
        {
            await grains.GetGrain<ISensorGrain>(sensorId).Unwatch(Self);
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
                    watched = [.. _watchers.Keys];
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
}
