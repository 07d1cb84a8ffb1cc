using System.Globalization;
using System.Text;
using System.Text.Json;
using Sensors360.Grains.Prediction;

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
    IReadOnlyDictionary<string, string> Lifespan,
    PredictionReport Prediction,
    double PartSeconds)
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
            .AppendLine(invariant, $"{Sensors:N0} sensors, {Heartbeats:N0} heartbeats, database {DatabaseBytes / (1024.0 * 1024 * 1024):0.0} GiB; PostgreSQL with its durable defaults. The part took {PartSeconds / 60:0.0} minutes.")
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
            .AppendLine(invariant, $"First `GET /api/fleet` after the restart (activates the dashboard grain, which reads the fleet and estimates lifespans; the silo's first failure-model training runs meanwhile): {FirstFleetRequestMs:0} ms.")
            .AppendLine(invariant, $"Naive full scan (median, p95 and mean over lag() of every heartbeat), once: {Naive.Ms / 1000:0.0} s, {Naive.Ms / percentiles.P50Ms:N0}× the histogram's p50.")
            .AppendLine(invariant, $"Intervals, histogram vs full scan: median {Seconds(FromHistogram.MedianSeconds)} vs {Seconds(Naive.Answers.MedianSeconds)}, p95 {Seconds(FromHistogram.P95Seconds)} vs {Seconds(Naive.Answers.P95Seconds)}, mean (counters) {Seconds(FromHistogram.MeanSeconds)} vs {Seconds(Naive.Answers.MeanSeconds)}.")
            .AppendLine(invariant, $"Server RSS after the requests (and the silo's first training): {ServerResidentBytes / (1024.0 * 1024):0} MiB (peak {ServerPeakResidentBytes / (1024.0 * 1024):0} MiB{(PeakRssCoversWholeLife ? ", over its whole life" : "")}).")
            .AppendLine()
            .AppendLine("`GET /api/fleet` answered: " + string.Join(", ", Fleet.Select(field => $"{field.Key} {field.Value}")))
            .AppendLine()
            .AppendLine("`GET /api/analytics/lifespan` answered (curve left out): " + string.Join(", ", Lifespan.Select(field => $"{field.Key} {field.Value}")));
        AppendPrediction(text);
        return text.ToString();
    }

    private void AppendPrediction(StringBuilder text)
    {
        var invariant = CultureInfo.InvariantCulture;
        var p = Prediction;
        var stream = p.StreamAlone;
        text.AppendLine()
            .AppendLine("## Failure prediction training")
            .AppendLine()
            .AppendLine(invariant, $"The server's defaults: horizon {p.HorizonHours} h, presumed dead after {p.PresumedDeadAfterHours:0.#} h, cut-offs over {p.TrainOverDays:0} days ({stream.Cutoffs} cut-offs, {stream.Metrics} metrics with trends); the training streams {stream.Heartbeats:N0} heartbeats of {stream.Sensors:N0} sensors.")
            .AppendLine()
            .AppendLine(invariant, $"Model: {p.Model.Kind}, trained on {p.Model.TrainedOn:N0} examples, {p.Model.TrainingFailures:N0} failures; validation AUC {p.Model.ValidationAuc:0.0000}, age alone {p.Model.AgeOnlyAuc:0.0000}; {p.Model.Features.Length} features; {p.LiveSensors:N0} live sensors ranked{(p.HighestProbability is { } highest ? string.Create(invariant, $", highest probability {highest:0.####}") : "")}.")
            .AppendLine()
            .AppendLine("| what | seconds |")
            .AppendLine("|---|---:|")
            .AppendLine(invariant, $"| the training the silo starts after the restart, to its ranking (cold; joined at /readyz; the request answered {p.StartupRequest}) | {p.StartupTrainingSeconds:0.0} |")
            .AppendLine(invariant, $"| `POST /api/analytics/at-risk/train` to the ranking with its model (warm, server otherwise idle; the request answered {p.TrainRequest}) | {p.TrainRequestSeconds:0.0} |")
            .AppendLine(invariant, $"| … until the heartbeat stream starts (lifelines, metrics, fleet interval) | {Tenths(p.UntilStreamSeconds)} |")
            .AppendLine(invariant, $"| … heartbeat stream with the features at every cut-off (PostgreSQL backend CPU {Tenths(p.StreamBackendCpuSeconds)}) | {Tenths(p.StreamWithFeaturesSeconds)} |")
            .AppendLine(invariant, $"| … fitting (three FastTree fits, contributions) and saving the model | {Tenths(p.FittingSeconds)} |")
            .AppendLine(invariant, $"| … ranking the live sensors (after the \"trained\" log line) | {Tenths(p.RankingSeconds)} |")
            .AppendLine(invariant, $"| … … of which its stream of the last {RiskFeatures.Lookback.TotalDays:0} days, with the features | {Tenths(p.RankingStreamSeconds)} |")
            .AppendLine(invariant, $"| the training's stream read in the benchmark process, counting only ({stream.Heartbeats / stream.Seconds:N0} heartbeats/s) | {stream.Seconds:0.0} |")
            .AppendLine()
            .AppendLine(invariant, $"Server CPU during the request: {p.ServerCpuSeconds:0.0} s ({p.ServerCpuSeconds / p.TrainRequestSeconds:0.00} cores); machine load average {p.LoadAverage:0.0} when it started.")
            .AppendLine(invariant, $"Server memory: RSS {MiB(p.ResidentBytesBefore)} MiB before, {MiB(p.ResidentBytesAfter)} MiB after, peak {MiB(p.PeakResidentBytes)} MiB{(p.PeakCoversWholeLife ? " (over the server's whole life)" : " (during the request)")}, highest sampled {MiB(p.SampledPeakResidentBytes)} MiB; managed heap after a full collection {MiB(p.ManagedBytesBefore)} MiB before, {MiB(p.ManagedBytesAfter)} MiB after (RSS then {MiB(p.ResidentBytesAfterCollection)} MiB).");
        var ingest = p.Ingest;
        text.AppendLine(invariant, $"Ingest at full speed (simulator load, 64 connections, {ingest.SecondsPerRun:0} s runs): {ingest.RateBefore:0}/s before, {ingest.RateDuring:0}/s during a training, {ingest.RateAfter:0}/s after: {ingest.Ratio:0.00} of the rate without (p99 {ingest.P99BeforeMs:0.0}, {ingest.P99DuringMs:0.0}, {ingest.P99AfterMs:0.0} ms). The training took {ingest.TrainingUnderLoadSeconds:0.0} s under load ({ingest.TrainingUnderLoadSeconds / p.TrainRequestSeconds:0.00}× the idle one){(ingest.TrainingOutlastedLoad ? "" : ", ending before the load run did, so the ratio understates its cost")}.");
    }

    private static string Tenths(double? value) => value is { } number ? number.ToString("0.0", CultureInfo.InvariantCulture) : "–";

    private static string MiB(long bytes) => (bytes / (1024.0 * 1024)).ToString("0", CultureInfo.InvariantCulture);

    private static string Seconds(double? value) => value is { } seconds ? seconds.ToString("0.0", CultureInfo.InvariantCulture) + " s" : "–";
}
