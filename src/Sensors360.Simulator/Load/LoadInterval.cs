using System.Text.Json;

namespace Sensors360.Simulator.Load;

/// <summary>
/// One interval of a load run, a line of <c>--intervals</c> (camelCase, latencies in ms): what was answered in it,
/// and the latency of those answers. <see cref="Requests"/> = <see cref="Succeeded"/> + <see cref="Non2xx"/> +
/// <see cref="TransportErrors"/>; the lines of a run add up to its result.
/// </summary>
internal sealed record LoadInterval(
    int Index,
    DateTimeOffset End,
    double Seconds,
    long Requests,
    long Succeeded,
    long Non2xx,
    long TransportErrors,
    IReadOnlyDictionary<string, long> StatusCodes,
    LatencySummary LatencyMs)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string ToJsonLine() => JsonSerializer.Serialize(this, Json);
}
