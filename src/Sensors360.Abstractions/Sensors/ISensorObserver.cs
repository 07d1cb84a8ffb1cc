using Orleans.Concurrency;

namespace Sensors360.Abstractions.Sensors;

/// <summary>Told of every heartbeat and state change of the sensors it watches (a silo's dashboard sockets).</summary>
public interface ISensorObserver : IGrainObserver
{
    [OneWay]
    Task SensorChanged(SensorSnapshot sensor);
}
