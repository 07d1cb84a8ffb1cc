using System.Diagnostics.Metrics;
using Sensors360.Grains.Sensors;

namespace Sensors360.Server.Bench;

/// <summary>
/// Batches and heartbeats the heartbeat writer committed since start, read from its meter
/// (<see cref="HeartbeatLog.MeterName"/>) so the writer keeps no counters of its own for the benchmark.
/// Registered only with the benchmark on; started with the host so no early batch is missed.
/// </summary>
internal sealed class CommittedHeartbeats : IHostedService, IDisposable
{
    private readonly MeterListener _listener = new();
    private long _batches;
    private long _heartbeats;

    public CommittedHeartbeats(IMeterFactory meters)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // This host's meter only (its factory is the scope): test processes may hold several hosts.
            if (instrument.Meter.Name == HeartbeatLog.MeterName && ReferenceEquals(instrument.Meter.Scope, meters)
                && instrument.Name is HeartbeatLog.BatchSizeInstrument or HeartbeatLog.StoredInstrument)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        // One batch_size measurement per committed batch; stored adds the batch's heartbeats.
        _listener.SetMeasurementEventCallback<int>((instrument, _, _, _) =>
        {
            if (instrument.Name == HeartbeatLog.BatchSizeInstrument)
            {
                Interlocked.Increment(ref _batches);
            }
        });
        _listener.SetMeasurementEventCallback<long>((instrument, heartbeats, _, _) =>
        {
            if (instrument.Name == HeartbeatLog.StoredInstrument)
            {
                Interlocked.Add(ref _heartbeats, heartbeats);
            }
        });
    }

    public long Batches => Interlocked.Read(ref _batches);

    public long Heartbeats => Interlocked.Read(ref _heartbeats);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _listener.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _listener.Dispose();
}
