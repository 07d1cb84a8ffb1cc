using System.Globalization;
using Sensors360.Bench;

// dotnet Sensors360.Bench.dll [results-directory] [seconds-per-run] [concurrency] [active-sensors]
// dotnet Sensors360.Bench.dll import [lines]   (the heartbeat import alone; prints its numbers)
if (args is ["import", ..])
{
    var lines = args.Length > 1 ? long.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
    await new ImportBenchmark(lines).RunAsync(CancellationToken.None);
    return;
}

var results = args.Length > 0 ? args[0] : Path.Combine("bench", "results");
var seconds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20;
var concurrency = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 64;
var activeSensors = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 100_000;
var settings = new BenchSettings(
    RunLength: TimeSpan.FromSeconds(seconds),
    WarmUp: TimeSpan.FromSeconds(5),
    Concurrency: concurrency,
    Sensors: 1000,
    ActiveSensors: activeSensors,
    ResultsDirectory: results);

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

var report = await new IngestBenchmark(settings).RunAsync(stop.Token);
await report.WriteAsync(results, stop.Token);
Console.WriteLine();
Console.WriteLine(report.ToMarkdown());
Console.WriteLine($"Results written to {Path.GetFullPath(results)}/latest.md and latest.json.");
