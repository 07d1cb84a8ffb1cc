using System.Reactive.Linq;
using System.Reactive.Subjects;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Sensors;

namespace Sensors360.Server.Dashboard;

/// <summary>
/// This silo's watch on the sensors its sockets subscribed to: one observer for the silo, one watch per
/// sensor however many sockets want it, renewed every minute, dropped when the last socket lets go.
/// </summary>
public sealed partial class SensorWatch(IGrainFactory grains, SensorDirectory directory, ILogger<SensorWatch> logger) : BackgroundService, ISensorObserver
{
    private static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(60);

    private readonly Subject<SensorSnapshot> _changes = new();
    private readonly Dictionary<string, int> _watchers = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private ISensorObserver? _self;

    /// <summary>Every heartbeat and state change of a watched sensor.</summary>
    public IObservable<SensorSnapshot> Changes => _changes.AsObservable();

    Task ISensorObserver.SensorChanged(SensorSnapshot sensor)
    {
        _changes.OnNext(sensor);
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

    public async Task WatchAsync(string sensorId)
    {
        bool first;
        lock (_gate)
        {
            _watchers[sensorId] = _watchers.GetValueOrDefault(sensorId) + 1;
            first = _watchers[sensorId] == 1;
        }

        if (first)
        {
            await grains.GetGrain<ISensorGrain>(sensorId).Watch(Self);
        }
    }

    public async Task UnwatchAsync(string sensorId)
    {
        bool last;
        lock (_gate)
        {
            if (!_watchers.TryGetValue(sensorId, out var count))
            {
                return;
            }

            last = count == 1;
            if (last)
            {
                _watchers.Remove(sensorId);
            }
            else
            {
                _watchers[sensorId] = count - 1;
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

    public override void Dispose()
    {
        _changes.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not renew the watch on sensor {Sensor}: {Reason}")]
    private static partial void LogRenewFailed(ILogger logger, string sensor, string reason);
}
