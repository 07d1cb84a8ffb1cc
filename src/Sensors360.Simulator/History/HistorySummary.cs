using System.Globalization;

namespace Sensors360.Simulator.History;

/// <summary>What a <c>history</c> run wrote: how many sensors ended which way, and the size of the heartbeat file.</summary>
internal sealed record HistorySummary(int Seed, DateTimeOffset End, int Sensors, int Failed, int Announced, int Decommissioned, int Alive, int Flaky, long Heartbeats, long Bytes)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"history (seed {Seed}, end {End.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.fff'Z'}): {Sensors} sensors, {Failed} failed ({Announced} announced), {Decommissioned} decommissioned, {Alive} alive at the end, {Flaky} flaky; {Heartbeats} heartbeats, {Bytes / 1e6:0.0} MB");
}
