using System.Globalization;
using System.Text;
using System.Runtime.InteropServices;
using System.Text.Json;
using Npgsql;

namespace Sensors360.Bench;

/// <summary>One measured run of one endpoint.</summary>
internal sealed record BenchRun(
    string Name,
    string Path,
    double HeartbeatsPerSecond,
    double P50Ms,
    double P99Ms,
    double P999Ms,
    long Errors,
    double ServerCpuCores,
    long ServerPeakRssBytes,
    double? DatabaseRowsPerSecond,
    double? SensorRowUpdatesPerHeartbeat = null,
    double? ReminderWritesPerHeartbeat = null);

/// <summary>Facts about the machine the numbers came from.</summary>
internal sealed record MachineFacts(int Cores, long MemoryBytes, string Cpu, string Os, string Dotnet, string Postgres, string Orleans)
{
    public static async Task<MachineFacts> ReadAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var version = new NpgsqlCommand("SHOW server_version", connection);
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var memoryKb = long.Parse(File.ReadLines("/proc/meminfo").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        // Orleans' informational version reads "10.4.2. Commit Hash: ..." (others use "+hash"): the number alone.
        var orleans = typeof(IGrainFactory).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion
            .Split('+', ' ')[0].TrimEnd('.') ?? "?";
        return new MachineFacts(Environment.ProcessorCount, memoryKb * 1024, cpu, RuntimeInformation.OSDescription,
            Environment.Version.ToString(), $"PostgreSQL {await version.ExecuteScalarAsync()}", orleans);
    }

    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"{Cores} cores ({Cpu}), {MemoryBytes / (1024.0 * 1024 * 1024):0.#} GiB; {Os}; .NET {Dotnet}; Orleans {Orleans}; {Postgres}.");
}

/// <summary>What <c>build.ps1 bench</c> measured, as written to bench/results/latest.json and latest.md.</summary>
internal sealed record BenchReport(
    DateTimeOffset At,
    MachineFacts Machine,
    int Concurrency,
    double SecondsPerRun,
    int Sensors,
    IReadOnlyList<BenchRun> Runs,
    IReadOnlyDictionary<string, double> Ratios,
    IReadOnlyList<SteadyRound> SteadyRounds,
    int ActiveSensors,
    double BytesPerActiveSensor,
    double ManagedBytesPerActiveSensor,
    double BytesPerLoadedSensor,
    bool PeakRssCoversWholeLife,
    ReminderWrites Reminders,
    FeedCost Feed,
    string Client,
    IReadOnlyList<BenchRound> Rounds)
{
    // A p99 with more than 1% of the requests failed is infinite: written as "Infinity".
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The p99 goal's figure: the median over the rounds of each round's p99 at 70% of its own peak.</summary>
    public double P99At70PercentOfPeakMs => SteadyRound.MedianP99(SteadyRounds);

    /// <summary>The goals of the ingest issue, each with whether this run met it.</summary>
    public IReadOnlyList<Goal> Goals =>
    [
        new("sensors360 (heartbeat route) ≥ 0.40× noop", Ratios["sensors360/noop"], 0.40, Ratios["sensors360/noop"] >= 0.40),
        new("sensors360 ≥ 4× naive", Ratios["sensors360/naive"], 4.0, Ratios["sensors360/naive"] >= 4.0),
        new("product noop ≥ 0.9× bare Kestrel", Ratios["noop/bare-kestrel"], 0.9, Ratios["noop/bare-kestrel"] >= 0.9),
        new("p99 < 50 ms at 70% of peak (ms)", P99At70PercentOfPeakMs, 50, P99At70PercentOfPeakMs < 50),
        new("≤ 4 KiB per online sensor grain (bytes RSS)", BytesPerActiveSensor, 4096, BytesPerActiveSensor <= 4096),
        new("zero reminder writes per steady heartbeat", Reminders.PerHeartbeat, 0, Reminders.Writes == 0),
        new($"{Feed.Sockets:N0} dashboard sockets take ≤ 15% off the ingest peak (with ÷ without)", Feed.Ratio, 0.85, Feed.Ratio >= 0.85),
    ];

    public async Task WriteAsync(string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "latest.json"), JsonSerializer.Serialize(this, Json) + "\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "latest.md"), ToMarkdown(), cancellationToken);
    }

    public string ToMarkdown()
    {
        var invariant = CultureInfo.InvariantCulture;
        var text = new StringBuilder()
            .AppendLine(invariant, $"# Ingest benchmark, {At:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine(Machine.Describe())
            .AppendLine(invariant, $"Same client for every run ({Client}), {Concurrency} concurrent connections, {Sensors} sensors round-robin, {SecondsPerRun:0} s per run after a warm-up; PostgreSQL with its durable defaults (fsync, synchronous_commit on). The bare Kestrel and the bare ingest are separate processes (bench/Sensors360.BareKestrel, bench/Sensors360.BareIngest), running beside the server for the whole peak phase.")
            .AppendLine(Rounds.Count == 1
                ? "The peaks in one round (every target once, in the order listed below): the ratios are that round's."
                : string.Create(invariant, $"The peaks in {Rounds.Count} interleaved rounds along one chain of the six targets, walked backwards every other round, so each goal's two runs are neighbours (orders listed below); every ratio is the median over the rounds of that round's ratio, and each figure of a run below is its median of {Rounds.Count} rounds (errors: all rounds together; peak RSS: the highest)."))
            .AppendLine()
            .AppendLine(invariant, $"| run{(Rounds.Count == 1 ? "" : $" (median of {Rounds.Count} rounds)")} | heartbeats/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU (cores) | server peak RSS MiB | DB rows/s | sensor row updates per row | reminder writes per row |")
            .AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var run in Runs)
        {
            text.AppendLine(invariant,
                $"| {run.Name} | {run.HeartbeatsPerSecond:0} | {run.P50Ms:0.00} | {run.P99Ms:0.00} | {run.P999Ms:0.00} | {run.Errors} | {run.ServerCpuCores:0.00} | {run.ServerPeakRssBytes / (1024.0 * 1024):0} | {(run.DatabaseRowsPerSecond is { } rows ? rows.ToString("0", invariant) : "–")} | {(run.SensorRowUpdatesPerHeartbeat is { } updates ? updates.ToString("0.000", invariant) : "–")} | {(run.ReminderWritesPerHeartbeat is { } reminders ? reminders.ToString("0.000", invariant) : "–")} |");
        }

        // Every round's ratios, so a reader sees how far apart the rounds were.
        text.AppendLine()
            .AppendLine("| round | order | " + string.Join(" | ", BenchRound.RatioKeys) + " |")
            .AppendLine("|---:|---|" + string.Concat(BenchRound.RatioKeys.Select(_ => "---:|")));
        foreach (var round in Rounds)
        {
            text.AppendLine(invariant, $"| {round.Round} | {string.Join(", ", round.Order)} | {string.Join(" | ", BenchRound.RatioKeys.Select(name => round.Ratios[name].ToString("0.00", invariant)))} |");
        }

        text.AppendLine(invariant, $"| median | | {string.Join(" | ", BenchRound.RatioKeys.Select(name => Ratios[name].ToString("0.00", invariant)))} |");

        text.AppendLine()
            .AppendLine(invariant, $"Ratios (medians): sensors360/noop = {Ratios["sensors360/noop"]:0.00}, sensors360/naive = {Ratios["sensors360/naive"]:0.00}, noop/bare Kestrel = {Ratios["noop/bare-kestrel"]:0.00}.")
            .AppendLine(invariant, $"The same durable work bare (bench/Sensors360.BareIngest: Kestrel, a grain call, a group-committed insert): sensors360/bare-ingest = {Ratios["sensors360/bare-ingest"]:0.00}, bare-ingest/bare Kestrel = {Ratios["bare-ingest/bare-kestrel"]:0.00}.")
            .AppendLine(invariant, $"Reminder table writes during the sensors360 runs (all rounds): {Reminders.Writes} for {Reminders.Heartbeats} stored heartbeats.")
            .AppendLine(invariant, $"Live feed, in {Feed.Rounds.Count} rounds of a run without and a run with {Feed.Sockets:N0} dashboard sockets open, side by side, each first in turn (below): the goal's figure is the median of the rounds' own ratios, {Feed.Ratio:0.000}. The medians of each column, from different rounds (so their ratio is not the goal's): sensors360 at {Feed.WithoutSocketsPerSecond:0}/s without and {Feed.WithSocketsPerSecond:0}/s with the sockets ({Feed.SnapshotsPerSocketPerSecond:0.00} snapshots a socket a second received, {Feed.BytesPerSnapshot:0} bytes each; {Feed.BrokenSockets} sockets broken in all); server CPU {Feed.ServerCoresWithout:0.00} → {Feed.ServerCoresWith:0.00} cores, the sockets' client (the bench process, on the same cores) {Feed.ClientCoresWithout:0.00} → {Feed.ClientCoresWith:0.00} cores. " +
                $"At a trickle of heartbeats, the machine otherwise quiet: server CPU {Feed.QuietServerCoresWithout:0.000} cores without the sockets (the mean of {Feed.QuietServerCoresWithoutBefore:0.000} before they first opened and {Feed.QuietServerCoresWithoutAfter:0.000} after they last closed), {Feed.QuietServerCoresWith:0.000} with them sending {Feed.QuietSnapshotsPerSecond:0} snapshots a second: {Feed.ServerMicrosecondsPerSnapshot:0.0} µs of server CPU a snapshot. " +
                $"The server's memory per open socket (after a full collection, with them open against the mean of right before they last opened and right after they closed): {Feed.MemoryPerSocket.ManagedBytes:0} bytes managed heap, {Feed.MemoryPerSocket.ResidentBytes:0} bytes RSS.")
            .AppendLine()
            .AppendLine("| feed round | first | without /s | with /s | with ÷ without | snapshots a socket a second |")
            .AppendLine("|---:|---|---:|---:|---:|---:|");
        foreach (var round in Feed.Rounds)
        {
            text.AppendLine(invariant, $"| {round.Round} | {(round.SocketsFirst ? "with" : "without")} | {round.Without.PerSecond:0} | {round.With.PerSecond:0} | {round.Ratio:0.000} | {round.SnapshotsPerSocketPerSecond:0.00} |");
        }

        text.AppendLine()
            .AppendLine(invariant, $"p99 at 70% of the sensors360 peak in {SteadyRounds.Count} round{(SteadyRounds.Count == 1 ? "" : "s")}, each a closed-loop peak run of the route and right after it, at 70% of that run's rate, open loop, the bench's own lean HTTP client (after a warm-up at that rate on the same connections, not counted; a request's latency runs from when it was due, and one without a 2xx counts as infinitely slow): the goal's figure is the median of the rounds' p99, {P99At70PercentOfPeakMs:0.00} ms. Beside each, the server's own account of the same requests (ASP.NET Core's request duration histogram, parse to response: the share within 50 ms, and the bound at or below which its p99 lies) and the client's own split (from its actual send to the answer, and its worst send behind schedule, which the p99 counts).")
            .AppendLine()
            .AppendLine("| p99 round | peak /s | rate /s | p99 ms | errors | server within 50 ms | server p99 ≤ ms | send to answer p99 ms | worst send late ms | server cores | client cores |")
            .AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var round in SteadyRounds)
        {
            text.AppendLine(invariant, $"| {round.Round} | {round.PeakPerSecond:0} | {round.Rate:0} | {round.P99Ms:0.00} | {round.Client.Errors} | {round.Server.ShareWithin50Ms:P2} of {round.Server.Requests:N0} | {round.Server.P99BoundMs:0} | {round.Client.ServiceTimeP99Ms:0.00} | {round.Client.WorstScheduleLagMs:0.00} | {round.ServerCores:0.00} | {round.ClientCores:0.00} |");
        }

        text.AppendLine()
            .AppendLine(invariant, $"Memory per active sensor grain ({ActiveSensors:N0} online sensors vs none, after a full GC): {BytesPerActiveSensor:0} bytes RSS, {ManagedBytesPerActiveSensor:0} bytes managed heap; a grain that only loaded its record (not online: no timer, no reminder) costs {BytesPerLoadedSensor:0} bytes RSS.")
            .AppendLine()
            .AppendLine("| goal | measured | target | result |")
            .AppendLine("|---|---:|---:|---|");
        foreach (var goal in Goals)
        {
            text.AppendLine(invariant, $"| {goal.Name} | {goal.Measured:0.00##} | {goal.Target:0.00} | {(goal.Met ? "pass" : "miss")} |");
        }

        if (PeakRssCoversWholeLife)
        {
            text.AppendLine().AppendLine("Peak RSS could not be reset between runs here, so each run's peak covers the server's life so far.");
        }

        return text.ToString();
    }
}

internal sealed record Goal(string Name, double Measured, double Target, bool Met);

/// <summary>
/// One round of the peak phase: every target measured once, in <paramref name="Order"/>, and the ratios of this
/// round's runs to each other. <see cref="BenchReport.Runs"/> and <see cref="BenchReport.Ratios"/> are the medians over the rounds.
/// </summary>
internal sealed record BenchRound(int Round, IReadOnlyList<string> Order, IReadOnlyList<BenchRun> Runs, IReadOnlyDictionary<string, double> Ratios)
{
    /// <summary>The report's ratios as "numerator/denominator" by run name, in the order the report lists them.</summary>
    public static readonly IReadOnlyList<string> RatioKeys =
        ["sensors360/noop", "sensors360/naive", "noop/bare-kestrel", "sensors360/bare-ingest", "bare-ingest/bare-kestrel"];

    /// <summary>The ratios of one round's runs.</summary>
    public static Dictionary<string, double> RatiosOf(IReadOnlyList<BenchRun> runs)
    {
        double Rate(string name) => runs.Single(run => run.Name == name).HeartbeatsPerSecond;
        return RatioKeys.ToDictionary(key => key, key => key.Split('/') is [var numerator, var denominator]
            ? Math.Round(Rate(numerator) / Rate(denominator), 3)
            : throw new InvalidOperationException($"Not a ratio: {key}"));
    }

    /// <summary>Each ratio's median over the rounds: every round's ratio compares runs of the same minutes.</summary>
    public static Dictionary<string, double> MedianRatios(IReadOnlyList<BenchRound> rounds) =>
        RatioKeys.ToDictionary(key => key, key => Math.Round(Median(rounds.Select(round => round.Ratios[key])), 3));

    /// <summary>
    /// One target over the rounds: the median of each rate, latency, CPU and per-heartbeat figure, the errors of all
    /// rounds together and the highest peak RSS.
    /// </summary>
    public static BenchRun MedianRun(string name, IReadOnlyList<BenchRound> rounds)
    {
        var runs = rounds.Select(round => round.Runs.Single(run => run.Name == name)).ToList();
        double? MedianOrNull(Func<BenchRun, double?> value) =>
            runs.Select(value).OfType<double>().ToList() is { Count: > 0 } present ? Math.Round(Median(present), 4) : null;
        return new BenchRun(
            name,
            runs[0].Path,
            Math.Round(Median(runs.Select(run => run.HeartbeatsPerSecond)), 1),
            Math.Round(Median(runs.Select(run => run.P50Ms)), 3),
            Math.Round(Median(runs.Select(run => run.P99Ms)), 3),
            Math.Round(Median(runs.Select(run => run.P999Ms)), 3),
            runs.Sum(run => run.Errors),
            Math.Round(Median(runs.Select(run => run.ServerCpuCores)), 2),
            runs.Max(run => run.ServerPeakRssBytes),
            MedianOrNull(run => run.DatabaseRowsPerSecond),
            MedianOrNull(run => run.SensorRowUpdatesPerHeartbeat),
            MedianOrNull(run => run.ReminderWritesPerHeartbeat));
    }

    /// <summary>The middle value, or the mean of the two middle ones for an even count.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN
            : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2]
            : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

/// <summary>Writes to the reminder table (inserts, updates, deletes) while already-online sensors sent heartbeats.</summary>
internal sealed record ReminderWrites(long Writes, long Heartbeats)
{
    public double PerHeartbeat => Heartbeats == 0 ? 0 : Math.Round(Writes / (double)Heartbeats, 4);
}

/// <summary>
/// The sensors360 peak without and with dashboard sockets open, in <paramref name="Rounds"/> whose two runs are neighbours
/// (so a drift of the machine over the step falls on both sides of each ratio); every figure here is the median over
/// the rounds. The quiet fields: the server's CPU at a trickle of heartbeats before the sockets first open, after they
/// last close and while they are open, the snapshots sent meanwhile, and so the server's CPU per snapshot sent.
/// </summary>
internal sealed record FeedCost(
    int Sockets, IReadOnlyList<FeedRound> Rounds, long BrokenSockets,
    double QuietServerCoresWithoutBefore, double QuietServerCoresWithoutAfter, double QuietServerCoresWith, double QuietSnapshotsPerSecond,
    SocketMemory MemoryPerSocket)
{
    public double QuietServerCoresWithout => Math.Round((QuietServerCoresWithoutBefore + QuietServerCoresWithoutAfter) / 2, 3);

    /// <summary>The server's CPU a snapshot sent, quiet; null when no snapshot arrived.</summary>
    public double? ServerMicrosecondsPerSnapshot =>
        QuietSnapshotsPerSecond > 0 ? Math.Round((QuietServerCoresWith - QuietServerCoresWithout) / QuietSnapshotsPerSecond * 1e6, 1) : null;

    /// <summary>The goal's figure: the median over the rounds of each round's with ÷ without.</summary>
    public double Ratio => Median(round => round.Ratio, 3);

    public double WithoutSocketsPerSecond => Median(round => round.Without.PerSecond, 0);

    public double WithSocketsPerSecond => Median(round => round.With.PerSecond, 0);

    public double SnapshotsPerSocketPerSecond => Median(round => round.SnapshotsPerSocketPerSecond, 2);

    public double BytesPerSnapshot => Median(round => round.BytesPerSnapshot, 0);

    public double ServerCoresWithout => Median(round => round.Without.ServerCores, 2);

    public double ServerCoresWith => Median(round => round.With.ServerCores, 2);

    public double ClientCoresWithout => Median(round => round.Without.ClientCores, 2);

    public double ClientCoresWith => Median(round => round.With.ClientCores, 2);

    private double Median(Func<FeedRound, double> value, int digits) => Math.Round(BenchRound.Median(Rounds.Select(value)), digits);
}

/// <summary>
/// One round of the feed step: the route's peak without the sockets and with them, one right after the other
/// (<paramref name="SocketsFirst"/>: which went first), and what each socket received in the run with them.
/// </summary>
internal sealed record FeedRound(int Round, bool SocketsFirst, FeedRun Without, FeedRun With, double SnapshotsPerSocketPerSecond, double BytesPerSnapshot)
{
    public double Ratio => Without.PerSecond == 0 ? 0 : Math.Round(With.PerSecond / Without.PerSecond, 3);
}

/// <summary>
/// The server's memory per open dashboard socket: after a full collection with the sockets open and quiet, less the mean
/// of the same right before they last opened and right after they closed, over the sockets.
/// </summary>
internal sealed record SocketMemory(double ManagedBytes, double ResidentBytes);

/// <summary>One run of the feed step: heartbeats a second, and the server's and the sockets' client's CPU in cores.</summary>
internal sealed record FeedRun(double PerSecond, double ServerCores, double ClientCores);

/// <summary>
/// One round of the p99 step: the route's closed-loop peak run, the rate right after it (70% of that peak), the p99
/// there from each request's due time, the server's and the client's own accounts of the same requests, and the server's
/// and the client's CPU in cores meanwhile.
/// </summary>
internal sealed record SteadyRound(
    int Round, double PeakPerSecond, double Rate, double P99Ms, ServerLatency Server, ClientLatency Client, double ServerCores, double ClientCores)
{
    /// <summary>The p99 goal's figure: the median of the rounds' p99 (an infinite one, a round with too many errors, counts as the highest).</summary>
    public static double MedianP99(IEnumerable<SteadyRound> rounds) => Math.Round(BenchRound.Median(rounds.Select(round => round.P99Ms)), 3);
}

/// <summary>
/// The server's own durations of the 70% run's heartbeats (<see cref="RouteDurations"/>): how many, the share answered
/// within 50 ms (a bound of the histogram, so exact), and the histogram bound at or below which their p99 lies.
/// </summary>
internal sealed record ServerLatency(long Requests, double ShareWithin50Ms, double P99BoundMs);

/// <summary>
/// The open-loop client's own split of the 70% run (<see cref="LoadNumbers"/>): p99 from the actual send to the answer,
/// the latest a send left behind its schedule (a client short of CPU or of free connections sends late), and the
/// requests that got no 2xx (each counted as infinitely slow in the p99).
/// </summary>
internal sealed record ClientLatency(double ServiceTimeP99Ms, double WorstScheduleLagMs, long Errors);
