namespace Sensors360.Simulator.Fleet;

/// <summary>
/// One sensor of the simulated fleet and its known truth: when it first reported, how long it was drawn to
/// live, whether it is flaky, and when it last reported before it died.
/// </summary>
internal sealed class SimulatedSensor
{
    internal SimulatedSensor(string id, TimeSpan interval, bool flaky, TimeSpan lifespan, double batteryAtBirth, double baseTemperatureC)
    {
        Id = id;
        Interval = interval;
        Flaky = flaky;
        Lifespan = lifespan;
        BatteryAtBirth = batteryAtBirth;
        BaseTemperatureC = baseTemperatureC;
    }

    public string Id { get; }

    /// <summary>The sensor's heartbeat interval before jitter.</summary>
    public TimeSpan Interval { get; }

    public bool Flaky { get; }

    /// <summary>How long it lives from its first heartbeat.</summary>
    public TimeSpan Lifespan { get; }

    /// <summary>Its first heartbeat; null until then.</summary>
    public DateTimeOffset? BornAt { get; internal set; }

    public DateTimeOffset? LastHeartbeatAt { get; internal set; }

    public long Heartbeats { get; internal set; }

    /// <summary>When its life ended (end of its lifespan, or an operator retired it); null while it lives.</summary>
    public DateTimeOffset? EndedAt { get; internal set; }

    /// <summary>Its last heartbeat, once it is dead: the death an analysis of the heartbeats can see.</summary>
    public DateTimeOffset? DiedAt => EndedAt is null ? null : LastHeartbeatAt;

    public bool IsAlive => EndedAt is null;

    /// <summary>While a flaky sensor is in a gap, when the gap ends.</summary>
    public DateTimeOffset? QuietUntil { get; internal set; }

    /// <summary>Whether a replacement was scheduled or made for it.</summary>
    public bool Replaced { get; internal set; }

    internal double BatteryAtBirth { get; }

    internal double BaseTemperatureC { get; }

    /// <summary>Identifies the one event the model holds for this sensor; older ones are stale.</summary>
    internal long PendingEvent { get; set; }

    public DateTimeOffset? EndOfLife => BornAt + Lifespan;
}
