using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Sensors360.Simulator.Load;

/// <summary>
/// The result of a load run, also written as JSON by <c>--json</c> (camelCase names, latencies in ms).
/// <see cref="Sent"/> = <see cref="Completed"/> (answered with any status) + <see cref="TransportErrorCount"/> (no answer).
/// </summary>
internal sealed record LoadResult(
    DateTimeOffset StartedAt,
    string Server,
    string UrlPath,
    string Mode,
    double? TargetRate,
    int Concurrency,
    int Sensors,
    bool Auth,
    bool Metrics,
    double DurationSeconds,
    double ElapsedSeconds,
    long Scheduled,
    long Sent,
    long Completed,
    long Succeeded,
    double AchievedRate,
    double SucceededRate,
    double MaxLagMs,
    LatencySummary LatencyMs,
    LatencySummary ServiceTimeMs,
    IReadOnlyDictionary<string, long> StatusCodes,
    IReadOnlyDictionary<string, long> TransportErrors,
    long TransportErrorCount)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public void WriteJson(string path)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory)
        {
            Directory.CreateDirectory(directory);
        }

        File.WriteAllText(path, ToJson() + "\n");
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        var invariant = CultureInfo.InvariantCulture;
        var target = TargetRate is { } rate ? string.Create(invariant, $"rate {rate:0.##}/s") : "max";
        text.AppendLine(invariant, $"load ({target}, concurrency {Concurrency}, {Sensors} sensors, {UrlPath}{(Auth ? "" : ", no auth")}) ran {ElapsedSeconds:0.00} s")
            .AppendLine(invariant, $"  sent {Sent}{(TargetRate is null ? "" : $" of {Scheduled} scheduled")}, answered {Completed} ({AchievedRate:0.0}/s), 2xx {Succeeded} ({SucceededRate:0.0}/s), transport errors {TransportErrorCount}")
            .AppendLine(invariant, $"  latency{(TargetRate is null ? "" : " from intended send")} ms: {Describe(LatencyMs)}");
        if (TargetRate is not null)
        {
            text.AppendLine(invariant, $"  service time ms: {Describe(ServiceTimeMs)}; worst schedule lag {MaxLagMs:0.###} ms");
        }

        text.Append("  status: ").Append(StatusCodes.Count == 0 ? "no answers" : string.Join(' ', StatusCodes.Select(pair => $"{pair.Key}×{pair.Value}")));
        if (TransportErrors.Count > 0)
        {
            text.Append("; transport: ").AppendJoin(' ', TransportErrors.Select(pair => $"{pair.Key}×{pair.Value}"));
        }

        return text.ToString();
    }

    private static string Describe(LatencySummary latency) => string.Create(CultureInfo.InvariantCulture,
        $"p50 {latency.P50:0.###}  p90 {latency.P90:0.###}  p99 {latency.P99:0.###}  p99.9 {latency.P999:0.###}  max {latency.Max:0.###}  (mean {latency.Mean:0.###}, n {latency.Count})");
}
