namespace Sensors360.Simulator.History;

/// <summary>How a sensor's history ends: it failed, an operator took it out of service, or it outlived the history.</summary>
internal enum HistoryCause
{
    Failed,
    Decommissioned,
    Alive,
}

/// <summary>
/// One simulated sensor's drawn life and, once played, what its heartbeats show. Times are milliseconds
/// since the Unix epoch (UTC), the precision the files are written in.
/// </summary>
internal sealed class SensorLife
{
    public required string Id { get; init; }

    /// <summary><c>model-a</c> or <c>model-b</c>; a tag only, it does not change the life.</summary>
    public required string Model { get; init; }

    /// <summary>1 … <see cref="HistoryOptions.Sites"/>.</summary>
    public required int Site { get; init; }

    /// <summary>Installation, which is also its first heartbeat: commissioning waits for that one.</summary>
    public required long InstalledAt { get; init; }

    /// <summary>The lifespan drawn from the Weibull distribution, counted from installation.</summary>
    public required long TrueLifespan { get; init; }

    public long DeathAt => InstalledAt + TrueLifespan;

    /// <summary>When an operator takes it out of service, before its death; null for most sensors.</summary>
    public required long? DecommissionAt { get; init; }

    public required bool Flaky { get; init; }

    /// <summary>Whether its failure announces itself; it does so only if it lives to fail.</summary>
    public required bool Announcing { get; init; }

    /// <summary>How long before its death the precursor starts (announcing sensors only; 0 otherwise).</summary>
    public required long Precursor { get; init; }

    internal required double BatteryAtInstall { get; init; }

    /// <summary>How long a battery takes to drain from full to its swap level, independent of the lifespan.</summary>
    internal required double BatteryLife { get; init; }

    internal required double BaseTemperatureC { get; init; }

    /// <summary>The sensor's own random source, drawn from the seed: its heartbeats continue the draws of its life.</summary>
    internal required Random Random { get; init; }

    /// <summary>Failed, decommissioned or alive at the end of the history.</summary>
    public HistoryCause Cause { get; internal set; }

    /// <summary>The death or decommissioning, when it happened before the end of the history.</summary>
    public long? DiedAt => Cause == HistoryCause.Alive ? null : DecommissionAt ?? DeathAt;

    public bool Announced => Announcing && Cause == HistoryCause.Failed;

    public long FirstHeartbeatAt { get; internal set; }

    public long LastHeartbeatAt { get; internal set; }

    public long Heartbeats { get; internal set; }
}
