using System.Globalization;
using Sensors360.Bench;

// dotnet Sensors360.Bench.dll [results-directory] [seconds-per-run] [concurrency] [active-sensors]
//     [--part all|ingest|analytics] [--wrk PATH] [--feed-sockets N] [--rounds N] [--quick true] [--concurrency N]
//     [--fleet-sensors N] [--heartbeats-per-sensor N] [--requests N]
// --quick true: short runs and small counts, to see that the machinery works (its numbers mean little).
// --rounds N: interleaved rounds of the ingest peaks, and rounds of the p99 step and of the feed step (3; --quick 1), every ratio the median of the rounds'.
// --concurrency N: the connections of the closed-loop peaks, ingest's, pipeline's and scale's (256; the positional argument's
// twin; 64 until 2026-12-06). docs/performance.md, "The default count 256", says why.
// dotnet Sensors360.Bench.dll [results-directory] --part pipeline --wrk PATH [--rounds 5] [--quick true]   (not in all)
// dotnet Sensors360.Bench.dll [results-directory] --part soak [--minutes 30] [--soak-sensors 5000]   (build.ps1 soak; not in all)
// dotnet Sensors360.Bench.dll [results-directory] --part scale --wrk PATH [--provisioned 1000000] [--online 250000] [--online-concurrency 256]   (build.ps1 bench -Part scale; not in all)
// dotnet Sensors360.Bench.dll import [lines]   (the heartbeat import alone; prints its numbers)
// dotnet Sensors360.Bench.dll [results-directory] --part partition [--quick true]   (build.ps1 bench -Partition; not in all)
if (args is ["import", ..])
{
    var lines = args.Length > 1 ? long.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
    await new ImportBenchmark(lines).RunAsync(CancellationToken.None);
    return 0;
}

// dotnet Sensors360.Bench.dll memory|rewatch [sensors] ...   (what watching online sensors costs: WatchBenchmark)
if (args is ["memory" or "rewatch", ..])
{
    return await WatchBenchmark.RunAsync(args, CancellationToken.None);
}

// The options may stand anywhere; what is left are the positional arguments of the ingest part.
var options = new Dictionary<string, string>(StringComparer.Ordinal);
var positional = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
    {
        options[args[i][2..]] = args[++i];
    }
    else
    {
        positional.Add(args[i]);
    }
}

var part = options.GetValueOrDefault("part", "all");
if (part is not ("all" or "ingest" or "analytics" or "soak" or "partition" or "pipeline" or "scale"))
{
    Console.Error.WriteLine($"--part must be all, ingest, analytics, soak, partition, pipeline or scale, not '{part}'.");
    return 2;
}

var quick = options.GetValueOrDefault("quick") == "true";
var results = positional.Count > 0 ? positional[0] : Path.Combine("bench", "results");
var seconds = positional.Count > 1 ? int.Parse(positional[1], CultureInfo.InvariantCulture) : quick ? 4 : 20;
var concurrency = Number("concurrency", positional.Count > 2 ? int.Parse(positional[2], CultureInfo.InvariantCulture) : 256);
var activeSensors = positional.Count > 3 ? int.Parse(positional[3], CultureInfo.InvariantCulture) : quick ? 5_000 : 100_000;

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

if (part is "all" or "ingest")
{
    var settings = new BenchSettings(
        RunLength: TimeSpan.FromSeconds(seconds),
        WarmUp: TimeSpan.FromSeconds(quick ? 2 : 5),
        Concurrency: concurrency,
        Sensors: 1000,
        ActiveSensors: activeSensors,
        ResultsDirectory: results,
        Wrk: options.GetValueOrDefault("wrk"),
        FeedSockets: Number("feed-sockets", quick ? 200 : 10_000),
        Rounds: Number("rounds", quick ? 1 : 3));
    if (settings.Rounds < 1)
    {
        Console.Error.WriteLine($"--rounds must be at least 1, not {settings.Rounds}.");
        return 2;
    }

    var report = await new IngestBenchmark(settings).RunAsync(stop.Token);
    await PublishAsync(report.WriteAsync, report.ToMarkdown(), "latest.md and latest.json");
}

if (part is "all" or "analytics")
{
    var settings = new AnalyticsSettings(
        Sensors: Number("fleet-sensors", 100_000),
        HeartbeatsPerSensor: Number("heartbeats-per-sensor", 500),
        Requests: Number("requests", 30));
    var report = await new AnalyticsBenchmark(settings).RunAsync(stop.Token);
    await PublishAsync(report.WriteAsync, report.ToMarkdown(), "analytics.md and analytics.json");
}

if (part is "pipeline")
{
    var settings = new PipelineSettings(
        Rounds: Number("rounds", quick ? 2 : 5),
        RunLength: TimeSpan.FromSeconds(quick ? 3 : 5),
        WarmUp: TimeSpan.FromSeconds(1),
        Connections: concurrency,
        Wrk: options.GetValueOrDefault("wrk") ?? "wrk",
        ResultsDirectory: results);
    var report = await new PipelineBenchmark(settings).RunAsync(stop.Token);
    Console.WriteLine();
    Console.WriteLine(report);
    Console.WriteLine($"Results written to {Path.GetFullPath(results)}/pipeline.md.");
}

if (part is "soak")
{
    var settings = new SoakSettings(
        Minutes: Number("minutes", 30),
        Silos: 3,
        Sensors: Number("soak-sensors", 5_000),
        PeakRun: TimeSpan.FromSeconds(20),
        PeakConcurrency: 64);
    var report = await new SoakBenchmark(settings).RunAsync(stop.Token);
    await PublishAsync(report.WriteAsync, report.ToMarkdown(), "soak.md and soak.json");
}

if (part is "partition")
{
    var report = await new PartitionTrial(quick ? PartitionTrialSettings.Quick : PartitionTrialSettings.Full).RunAsync(stop.Token);
    await PublishAsync(report.WriteAsync, report.ToMarkdown(), "partition.md and partition.json");
}

if (part is "scale")
{
    var settings = new ScaleSettings(
        Provisioned: Number("provisioned", quick ? 20_000 : 1_000_000),
        Online: Number("online", quick ? 5_000 : 250_000),
        RunLength: TimeSpan.FromSeconds(seconds),
        Concurrency: concurrency,
        OnlineConcurrency: Number("online-concurrency", 256),
        Wrk: options.GetValueOrDefault("wrk") ?? "wrk");
    var report = await new ScaleBenchmark(settings).RunAsync(stop.Token);
    await PublishAsync(report.WriteAsync, report.ToMarkdown(), "scale.md and scale.json");
}

return 0;

// Writes a part's report to the results directory and prints it.
async Task PublishAsync(Func<string, CancellationToken, Task> write, string markdown, string files)
{
    await write(results, stop.Token);
    Console.WriteLine();
    Console.WriteLine(markdown);
    Console.WriteLine($"Results written to {Path.GetFullPath(results)}/{files}.");
}

int Number(string name, int fallback) =>
    options.TryGetValue(name, out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;
