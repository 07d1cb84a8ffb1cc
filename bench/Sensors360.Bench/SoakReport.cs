using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Sensors360.Bench;

/// <summary>One silo at the end of a minute: resident memory then, CPU (in cores) over the minute.</summary>
internal sealed record SiloSample(long ResidentBytes, double CpuCores);

/// <summary>One minute of the soak, as the load client counted it and /proc showed the silos.</summary>
internal sealed record SoakMinute(int Minute, DateTimeOffset End, double Seconds, long Requests, long Succeeded, long Non2xx, long TransportErrors,
    double P50Ms, double P99Ms, double MaxMs, IReadOnlyList<SiloSample> Silos)
{
    /// <summary>Intervals shorter than this (the run's last, after its end) are not minutes of the table.</summary>
    public const double FullSeconds = 50;

    public long Errors => Non2xx + TransportErrors;

    /// <summary>From a line of the simulator's <c>--intervals</c> file.</summary>
    public static SoakMinute From(JsonElement interval, IReadOnlyList<SiloSample> silos)
    {
        var latency = interval.GetProperty("latencyMs");
        return new SoakMinute(
            interval.GetProperty("index").GetInt32(),
            interval.GetProperty("end").GetDateTimeOffset(),
            interval.GetProperty("seconds").GetDouble(),
            interval.GetProperty("requests").GetInt64(),
            interval.GetProperty("succeeded").GetInt64(),
            interval.GetProperty("non2xx").GetInt64(),
            interval.GetProperty("transportErrors").GetInt64(),
            latency.GetProperty("p50").GetDouble(),
            latency.GetProperty("p99").GetDouble(),
            latency.GetProperty("max").GetDouble(),
            silos);
    }

    public string ToRow() => string.Create(CultureInfo.InvariantCulture,
        $"| {Minute} | {Requests} | {Succeeded / Math.Max(Seconds, 1e-3):0} | {Non2xx} | {TransportErrors} | {P50Ms:0.00} | {P99Ms:0.00} | {MaxMs:0} | ")
        + string.Join(" | ", Silos.Select(silo => string.Create(CultureInfo.InvariantCulture, $"{silo.ResidentBytes / (1024.0 * 1024):0} | {silo.CpuCores:0.00}"))) + " |";
}

/// <summary>The short run at full speed whose rate, halved, the soak runs at.</summary>
internal sealed record SoakPeak(double Seconds, int Concurrency, double SucceededPerSecond, double P99Ms, long Errors);

/// <summary>The whole soak run, as the load client's final result counts it.</summary>
internal sealed record SoakTotals(long Requests, long Succeeded, long Errors, double SucceededPerSecond, double P99Ms);

/// <summary>How one silo's memory moved over the run.</summary>
internal sealed record SiloDrift(int Silo, double FirstMiB, double LastMiB, double MaxMiB, double MiBPerHour);

/// <summary>What <c>build.ps1 soak</c> measured, as written to bench/results/soak.json and soak.md.</summary>
internal sealed record SoakReport(
    DateTimeOffset At,
    MachineFacts Machine,
    int Silos,
    int Sensors,
    int Minutes,
    SoakPeak Peak,
    double Rate,
    IReadOnlyList<SoakMinute> PerMinute,
    SoakTotals Totals)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>
    /// Each silo's resident memory: first and last full minute, the highest, and the trend (least squares over the full
    /// minutes after the first, which still holds the warm-up's growth) in MiB per hour.
    /// </summary>
    public IReadOnlyList<SiloDrift> MemoryDrift => [.. Enumerable.Range(0, Silos).Select(silo =>
    {
        var full = FullMinutes;
        var mib = full.Select(minute => minute.Silos[silo].ResidentBytes / (1024.0 * 1024)).ToList();
        var trend = full.Count >= 3 ? Slope(full.Skip(1).Select(minute => (double)minute.Minute).ToList(), mib.Skip(1).ToList()) * 60 : 0;
        return mib.Count == 0
            ? new SiloDrift(silo + 1, 0, 0, 0, 0)
            : new SiloDrift(silo + 1, Math.Round(mib[0], 1), Math.Round(mib[^1], 1), Math.Round(mib.Max(), 1), Math.Round(trend, 1));
    })];

    private List<SoakMinute> FullMinutes => [.. PerMinute.Where(minute => minute.Seconds >= SoakMinute.FullSeconds)];

    public async Task WriteAsync(string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var json = JsonSerializer.Serialize(new { report = this, memoryDrift = MemoryDrift }, Json);
        await File.WriteAllTextAsync(Path.Combine(directory, "soak.json"), json + "\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "soak.md"), ToMarkdown(), cancellationToken);
    }

    public static string TableHeader(int silos)
    {
        var text = new StringBuilder("| minute | requests | 2xx/s | non-2xx | no answer | p50 ms | p99 ms | max ms | ");
        text.AppendJoin(" | ", Enumerable.Range(1, silos).Select(silo => $"silo{silo} RSS MiB | silo{silo} CPU")).Append(" |\n|");
        text.Append(string.Concat(Enumerable.Repeat("---:|", 8 + 2 * silos)));
        return text.ToString();
    }

    public string ToMarkdown()
    {
        var invariant = CultureInfo.InvariantCulture;
        var text = new StringBuilder()
            .AppendLine(invariant, $"# Soak, {At:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine(Machine.Describe())
            .AppendLine(invariant, $"{Silos} silos behind HAProxy (deploy/haproxy.cfg), one durable PostgreSQL; the simulator's `load` through the balancer, {Sensors:N0} sensors.")
            .AppendLine(invariant, $"Peak (measured first: {Peak.Seconds:0} s at full speed, {Peak.Concurrency} connections): {Peak.SucceededPerSecond:0} heartbeats/s, p99 {Peak.P99Ms:0.00} ms, {Peak.Errors} errors.")
            .AppendLine(invariant, $"Soak: {Rate:0} heartbeats/s (half the peak, open loop, latency from each request's due time) for {Minutes} minutes.")
            .AppendLine()
            .AppendLine(TableHeader(Silos));
        foreach (var minute in PerMinute)
        {
            text.AppendLine(minute.ToRow());
        }

        text.AppendLine()
            .AppendLine(invariant, $"Whole run: {Totals.Requests:N0} requests, {Totals.Succeeded:N0} answered 2xx ({Totals.SucceededPerSecond:0}/s), {Totals.Errors} errors, p99 {Totals.P99Ms:0.00} ms.")
            .AppendLine()
            .AppendLine("| silo | RSS first full minute MiB | last MiB | highest MiB | trend MiB/h (after the first minute) |")
            .AppendLine("|---|---:|---:|---:|---:|");
        foreach (var drift in MemoryDrift)
        {
            text.AppendLine(invariant, $"| silo{drift.Silo} | {drift.FirstMiB:0.0} | {drift.LastMiB:0.0} | {drift.MaxMiB:0.0} | {drift.MiBPerHour:+0.0;-0.0;0.0} |");
        }

        var full = FullMinutes;
        if (full.Count >= 2)
        {
            text.AppendLine()
                .AppendLine(invariant, $"p99 first full minute {full[0].P99Ms:0.00} ms, last {full[^1].P99Ms:0.00} ms, worst {full.Max(minute => minute.P99Ms):0.00} ms.");
        }

        return text.ToString();
    }

    /// <summary>Least-squares slope of y over x.</summary>
    private static double Slope(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        var meanX = x.Average();
        var meanY = y.Average();
        var spread = x.Sum(value => (value - meanX) * (value - meanX));
        return spread == 0 ? 0 : x.Zip(y).Sum(point => (point.First - meanX) * (point.Second - meanY)) / spread;
    }
}
