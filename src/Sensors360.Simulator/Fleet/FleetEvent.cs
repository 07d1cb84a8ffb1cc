namespace Sensors360.Simulator.Fleet;

/// <summary>Something the fleet model says happens to a sensor at <see cref="At"/>.</summary>
internal abstract record FleetEvent(SimulatedSensor Sensor, DateTimeOffset At);

/// <summary>The sensor sends a heartbeat with this reading.</summary>
internal sealed record HeartbeatDue(SimulatedSensor Sensor, DateTimeOffset At, SensorReading Reading) : FleetEvent(Sensor, At);

/// <summary>The sensor reached the end of its life and stops for good.</summary>
internal sealed record SensorDied(SimulatedSensor Sensor, DateTimeOffset At) : FleetEvent(Sensor, At);

/// <summary>The crew arrives at the dead sensor: retire it and put a new one in its place.</summary>
internal sealed record ReplacementDue(SimulatedSensor Sensor, DateTimeOffset At) : FleetEvent(Sensor, At);
