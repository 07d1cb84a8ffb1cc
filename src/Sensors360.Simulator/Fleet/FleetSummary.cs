using System.Globalization;
using Sensors360.Simulator.Server;

namespace Sensors360.Simulator.Fleet;

/// <summary>
/// What a fleet run did. <see cref="Acknowledged"/> heartbeats got a 204, so the server stored exactly those.
/// <see cref="SlowestAnswer"/>: the longest from a heartbeat's due time (the truth's time for it) to its answer,
/// the loop's lag behind the model included.
/// </summary>
internal sealed record FleetSummary(
    int Seed,
    TimeSpan Elapsed,
    int Sensors,
    int Alive,
    int Dead,
    int Replaced,
    long Sent,
    OutcomeTally Outcomes,
    long Problems,
    TimeSpan SlowestAnswer)
{
    public long Acknowledged => Outcomes.StatusCodes.GetValueOrDefault(204);

    public override string ToString()
    {
        var failures = Outcomes.DescribeFailures();
        return string.Create(CultureInfo.InvariantCulture, $"""
            fleet ran {Elapsed.TotalSeconds:0.0} s (seed {Seed}): {Sensors} sensors, {Alive} alive, {Dead} dead, {Replaced} replaced
              heartbeats sent {Sent}, acknowledged (204) {Acknowledged}, failed {Outcomes.Failed}{(failures.Length > 0 ? $" ({failures})" : "")}, slowest answer {SlowestAnswer.TotalMilliseconds:0} ms after its due time
            """) + (Problems > 0 ? string.Create(CultureInfo.InvariantCulture, $"\n  operator calls that failed: {Problems}") : "");
    }
}
