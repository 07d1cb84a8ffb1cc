using Sensors360.Simulator.Server;

namespace Sensors360.Simulator.Fleet;

/// <summary>Everything a fleet run is told on the command line.</summary>
internal sealed record FleetOptions
{
    public required ServerAccess Access { get; init; }

    public int Sensors { get; init; } = 200;

    public FleetBehaviour Behaviour { get; init; } = new();

    /// <summary>Whether heartbeats carry battery and temperature.</summary>
    public bool Metrics { get; init; } = true;

    public int Seed { get; init; }

    /// <summary>How long to run; null runs until cancelled (Ctrl+C).</summary>
    public TimeSpan? Duration { get; init; }

    public string Prefix { get; init; } = "sim-";

    public IReadOnlyList<string> Tags { get; init; } = ["simulator"];

    /// <summary>Where to write the ground truth CSV; null writes none.</summary>
    public string? TruthFile { get; init; }
}
