using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Sensors360.Bench;

/// <summary>What the analytics part measured, as written to bench/results/analytics.json and analytics.md.</summary>
internal sealed record AnalyticsReport(
    DateTimeOffset At,
    MachineFacts Machine,
    int Sensors,
    long Heartbeats,
    long DatabaseBytes,
    IReadOnlyList<SetupStep> Setup,
    double FirstFleetRequestMs,
    IReadOnlyList<Timing> Timings,
    NaiveScan Naive,
    IntervalAnswers FromHistogram,
    long ServerResidentBytes,
    long ServerPeakResidentBytes,
    bool PeakRssCoversWholeLife,
    double GoalMs,
    IReadOnlyDictionary<string, string> Fleet,
    IReadOnlyDictionary<string, string> Lifespan)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public async Task WriteAsync(string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "analytics.json"), JsonSerializer.Serialize(this, Json) + "\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "analytics.md"), ToMarkdown(), cancellationToken);
    }

    public string ToMarkdown()
    {
        var invariant = CultureInfo.InvariantCulture;
        var text = new StringBuilder()
            .AppendLine(invariant, $"# Analytics benchmark, {At:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine(Machine.Describe())
            .AppendLine(invariant, $"{Sensors:N0} sensors, {Heartbeats:N0} heartbeats, database {DatabaseBytes / (1024.0 * 1024 * 1024):0.0} GiB; PostgreSQL with its durable defaults.")
            .AppendLine()
            .AppendLine("## Set-up (SQL inside PostgreSQL)")
            .AppendLine()
            .AppendLine("| step | seconds |")
            .AppendLine("|---|---:|");
        foreach (var step in Setup)
        {
            text.AppendLine(invariant, $"| {step.Name} | {step.Seconds:0.0} |");
        }

        text.AppendLine()
            .AppendLine("## Answers")
            .AppendLine()
            .AppendLine(invariant, $"Each asked {Timings[0].Count} times in turn after a warm-up; milliseconds. Goal: p95 under {GoalMs:0} ms.")
            .AppendLine()
            .AppendLine("| answer | what | p50 | p95 | max | under goal |")
            .AppendLine("|---|---|---:|---:|---:|---|");
        foreach (var timing in Timings)
        {
            text.AppendLine(invariant, $"| {timing.Name} | {timing.What} | {timing.P50Ms:0.0} | {timing.P95Ms:0.0} | {timing.MaxMs:0.0} | {(timing.P95Ms < GoalMs ? "yes" : "no")} |");
        }

        var percentiles = Timings.First(timing => timing.Name.StartsWith("heartbeat_interval_percentile", StringComparison.Ordinal));
        text.AppendLine()
            .AppendLine(invariant, $"First `GET /api/fleet` after the restart (activates the dashboard grain, which reads the fleet and estimates lifespans): {FirstFleetRequestMs:0} ms.")
            .AppendLine(invariant, $"Naive full scan (median, p95 and mean over lag() of every heartbeat), once: {Naive.Ms / 1000:0.0} s, {Naive.Ms / percentiles.P50Ms:N0}× the histogram's p50.")
            .AppendLine(invariant, $"Intervals, histogram vs full scan: median {Seconds(FromHistogram.MedianSeconds)} vs {Seconds(Naive.Answers.MedianSeconds)}, p95 {Seconds(FromHistogram.P95Seconds)} vs {Seconds(Naive.Answers.P95Seconds)}, mean (counters) {Seconds(FromHistogram.MeanSeconds)} vs {Seconds(Naive.Answers.MeanSeconds)}.")
            .AppendLine(invariant, $"Server RSS after the requests: {ServerResidentBytes / (1024.0 * 1024):0} MiB (peak {ServerPeakResidentBytes / (1024.0 * 1024):0} MiB{(PeakRssCoversWholeLife ? ", over its whole life" : "")}).")
            .AppendLine()
            .AppendLine("`GET /api/fleet` answered: " + string.Join(", ", Fleet.Select(field => $"{field.Key} {field.Value}")))
            .AppendLine()
            .AppendLine("`GET /api/analytics/lifespan` answered (curve left out): " + string.Join(", ", Lifespan.Select(field => $"{field.Key} {field.Value}")));
        return text.ToString();
    }

    private static string Seconds(double? value) => value is { } seconds ? seconds.ToString("0.0", CultureInfo.InvariantCulture) + " s" : "–";
}
