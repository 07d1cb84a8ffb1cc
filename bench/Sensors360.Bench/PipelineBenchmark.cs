using System.Diagnostics;
using System.Globalization;
using System.Text;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>
/// Settings of the pipeline comparison (<c>build.ps1 bench -Part pipeline</c>): <paramref name="Rounds"/> rounds, each
/// running every target once for <paramref name="RunLength"/> after a <paramref name="WarmUp"/>, in a rotated order.
/// </summary>
internal sealed record PipelineSettings(int Rounds, TimeSpan RunLength, TimeSpan WarmUp, int Connections, string Wrk, string ResultsDirectory);

/// <summary>
/// Where the product's <c>/bench/noop</c> loses against a bare Kestrel: the bare Kestrel, the bare Kestrel with the
/// product's security headers, and the product's noop as it ships and in variants that differ from it only in runtime or
/// configuration settings (environment variables: no switch in the product's code), all started at once and driven by
/// the same wrk in interleaved rounds, so every ratio compares runs of the same minute. Per run it reads the target's
/// CPU, wrk's CPU and what the idle targets took meanwhile from /proc; then, in one more run per target, the runtime's
/// counters (allocations, collections, thread-pool threads) with dotnet-counters.
/// </summary>
internal sealed class PipelineBenchmark(PipelineSettings settings)
{
    private const string NoopPath = "/bench/noop/{id}";

    private sealed record Target(string Name, string What, Uri BaseAddress, int ProcessId);

    private sealed record Run(string Target, int Round, double Rate, double P99Ms, long Errors, double TargetCpuMicroseconds, double ClientCpuMicroseconds, double BystanderCores, double MachineBusyCores);

    /// <summary>The runtime's counters of one target under load, per request (allocations) or per second.</summary>
    private sealed record RuntimeCounters(string Target, double Rate, double AllocatedBytesPerRequest, double Gen0PerSecond, double Gen1PerSecond, double Gen2PerSecond, string Threads, double WorkItemsPerRequest);

    public async Task<string> RunAsync(CancellationToken cancellationToken)
    {
        var work = Directory.CreateTempSubdirectory("sensors360-pipeline-");
        var disposables = new List<IAsyncDisposable>();
        try
        {
            var loadBefore = await LoadAverageAsync(cancellationToken);
            Console.WriteLine("Starting PostgreSQL, the bare Kestrels and the product's servers...");
            var postgres = await ThrowawayPostgres.StartAsync();
            disposables.Add(postgres);
            var targets = new List<Target>();

            async Task AddBareAsync(string name, string what, string? option)
            {
                var bare = BareKestrel.Start(option);
                disposables.Add(bare);
                await bare.WaitUntilReadyAsync(cancellationToken);
                targets.Add(new Target(name, what, bare.BaseAddress, bare.ProcessId));
            }

            async Task AddProductAsync(string name, string what, IReadOnlyDictionary<string, string?> environment)
            {
                // A database (and cluster) each, so the silos do not join one cluster and talk to each other.
                var database = await postgres.CreateDatabaseAsync(name);
                var server = ServerProcess.Start(database, name, new Dictionary<string, string?>(environment)
                {
                    ["Sensors360__Bench__Enabled"] = "true",
                    ["Logging__LogLevel__Default"] = "Warning",
                });
                disposables.Add(server);
                await server.WaitUntilReadyAsync();
                targets.Add(new Target(name, what, server.BaseAddress, server.ProcessId));
            }

            await AddBareAsync("bare", "bench/Sensors360.BareKestrel: Kestrel and one handler answering 204", option: null);
            await AddBareAsync("bare+headers", "the same with the product's three security headers (~300 bytes more per 204), set at once", "--security-headers");
            await AddBareAsync("bare+headers-on-starting", "the same headers from an on-starting callback, as the product's edge sets them", "--security-headers-on-starting");
            await AddProductAsync("noop", "the product's /bench/noop as it ships", new Dictionary<string, string?>());
            await AddProductAsync("noop-workstation-gc", "the same with DOTNET_gcServer=0 (workstation GC, concurrent)", new Dictionary<string, string?> { ["DOTNET_gcServer"] = "0" });
            await AddProductAsync("noop-no-otel", "the same with OTEL_SDK_DISABLED=true (no OpenTelemetry metrics: no request-duration histogram)", new Dictionary<string, string?> { ["OTEL_SDK_DISABLED"] = "true" });
            await AddProductAsync("noop-hosting-log", "the same with the hosting-diagnostics logger at Warning, as before the lean pipeline (an Activity and a log scope per request, no lines)",
                new Dictionary<string, string?> { ["Logging__LogLevel__Microsoft.AspNetCore.Hosting.Diagnostics"] = "Warning" });

            var ids = Enumerable.Range(0, 1000).Select(i => new LoadSensor($"p{i}", "")).ToList();
            var wrk = new WrkDriver(settings.Wrk, work.FullName, threads: 2, settings.Connections);

            // Idle: what each process takes with no load at all (the silo's timers, the Orleans and host background work).
            Console.WriteLine("Measuring each target idle (5 s)...");
            var idleBefore = targets.ToDictionary(target => target.Name, target => new ProcessMeter(target.ProcessId).CpuSeconds());
            await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
            var idle = targets.ToDictionary(target => target.Name, target => (new ProcessMeter(target.ProcessId).CpuSeconds() - idleBefore[target.Name]) / 5);

            var runs = new List<Run>();
            for (var round = 0; round < settings.Rounds; round++)
            {
                // Rotated, so no target always runs first or right after the same neighbour.
                var order = targets.Skip(round % targets.Count).Concat(targets.Take(round % targets.Count)).ToList();
                foreach (var target in order)
                {
                    await wrk.RunAsync(target.BaseAddress, NoopPath, withToken: false, ids, settings.WarmUp, cancellationToken);
                    var meters = targets.ToDictionary(other => other.Name, other => new ProcessMeter(other.ProcessId));
                    var before = meters.ToDictionary(pair => pair.Key, pair => pair.Value.CpuSeconds());
                    var clientBefore = ReapedChildrenCpuSeconds();
                    var machineBefore = MachineBusySeconds();
                    var numbers = await wrk.RunAsync(target.BaseAddress, NoopPath, withToken: false, ids, settings.RunLength, cancellationToken);
                    var machine = (MachineBusySeconds() - machineBefore) / numbers.ElapsedSeconds;
                    var client = ReapedChildrenCpuSeconds() - clientBefore;
                    var used = meters.ToDictionary(pair => pair.Key, pair => pair.Value.CpuSeconds() - before[pair.Key]);
                    var requests = numbers.Succeeded + numbers.Errors;
                    var run = new Run(target.Name, round, numbers.SucceededRate, numbers.P99Ms, numbers.Errors,
                        used[target.Name] * 1e6 / requests, client * 1e6 / requests,
                        used.Where(pair => pair.Key != target.Name).Sum(pair => pair.Value) / numbers.ElapsedSeconds, machine);
                    runs.Add(run);
                    Console.WriteLine($"  round {round + 1} {target.Name,-20} {run.Rate,8:0}/s  p99 {run.P99Ms,6:0.00} ms  server {run.TargetCpuMicroseconds,5:0.0} µs/req  " +
                        $"wrk {run.ClientCpuMicroseconds,5:0.0} µs/req  others {run.BystanderCores:0.00} cores  machine {run.MachineBusyCores:0.00} cores");
                }
            }

            Console.WriteLine("Reading the runtime's counters under load (dotnet-counters, one more run per target)...");
            var counters = new List<RuntimeCounters>();
            foreach (var target in targets)
            {
                counters.Add(await CountersUnderLoadAsync(target, wrk, ids, work.FullName, cancellationToken));
            }

            var report = Report(targets, idle, runs, counters, $"{loadBefore}, then {await LoadAverageAsync(cancellationToken)}");
            Directory.CreateDirectory(settings.ResultsDirectory);
            await File.WriteAllTextAsync(Path.Combine(settings.ResultsDirectory, "pipeline.md"), report, cancellationToken);
            return report;
        }
        finally
        {
            for (var i = disposables.Count - 1; i >= 0; i--)
            {
                await disposables[i].DisposeAsync();
            }

            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// dotnet-counters attached in the middle of a wrk run: its intervals all fall inside the load, so a counter's
    /// increments per second divided by wrk's rate are per request.
    /// </summary>
    private static async Task<RuntimeCounters> CountersUnderLoadAsync(Target target, WrkDriver wrk, IReadOnlyList<LoadSensor> ids, string work, CancellationToken cancellationToken)
    {
        var output = Path.Combine(work, $"counters-{target.Name}.csv");
        var load = wrk.RunAsync(target.BaseAddress, NoopPath, withToken: false, ids, TimeSpan.FromSeconds(9), cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory };
        foreach (var argument in (string[])["dotnet-counters", "collect", "-p", target.ProcessId.ToString(CultureInfo.InvariantCulture),
            "--counters", "System.Runtime", "--format", "csv", "-o", output, "--duration", "00:00:00:06"])
        {
            start.ArgumentList.Add(argument);
        }

        using (var collector = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet-counters."))
        {
            var text = collector.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = collector.StandardError.ReadToEndAsync(cancellationToken);
            await collector.WaitForExitAsync(cancellationToken);
            if (collector.ExitCode != 0 || !File.Exists(output))
            {
                throw new InvalidOperationException($"dotnet-counters failed ({collector.ExitCode}): {await error}{await text}");
            }
        }

        // The process's threads while loaded (the runtime's thread-pool count is exported as a change per second).
        var threads = Threads(target.ProcessId);
        var numbers = await load;
        // Timestamp,Provider,Counter Name,Counter Type,Mean/Increment; a rate's rows are increments per refresh interval (1 s).
        var rows = (await File.ReadAllLinesAsync(output, cancellationToken)).Skip(1)
            .Select(line => line.Split(','))
            .Where(fields => fields.Length >= 5)
            .Select(fields => (Name: fields[2], Value: double.Parse(fields[^1], CultureInfo.InvariantCulture)))
            .ToList();
        double PerSecond(string name, string tag = "") => rows
            .Where(row => row.Name.StartsWith(name, StringComparison.Ordinal) && row.Name.Contains(tag, StringComparison.Ordinal))
            .Select(row => row.Value).DefaultIfEmpty(double.NaN).Average();
        return new RuntimeCounters(
            target.Name,
            numbers.SucceededRate,
            PerSecond("dotnet.gc.heap.total_allocated") / numbers.SucceededRate,
            PerSecond("dotnet.gc.collections", "gen0"),
            PerSecond("dotnet.gc.collections", "gen1"),
            PerSecond("dotnet.gc.collections", "gen2"),
            threads,
            PerSecond("dotnet.thread_pool.work_item.count") / numbers.SucceededRate);
    }

    private string Report(IReadOnlyList<Target> targets, Dictionary<string, double> idle, IReadOnlyList<Run> runs, IReadOnlyList<RuntimeCounters> counters, string loadAverage)
    {
        static double Median(IEnumerable<double> values) => BenchRound.Median(values);

        // Each round's ratio against that round's bare run, then the median over the rounds.
        double RatioToBare(string name) => Median(runs.Where(run => run.Target == name)
            .Select(run => run.Rate / runs.Single(bare => bare.Target == "bare" && bare.Round == run.Round).Rate));

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# Pipeline comparison, {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores; wrk -t2 -c{settings.Connections}, POST {NoopPath} with an empty body, {settings.Rounds} interleaved rounds of {settings.RunLength.TotalSeconds:0} s after {settings.WarmUp.TotalSeconds:0} s of warm-up; load average before and after: {loadAverage}.");
        text.AppendLine();
        text.AppendLine("| target | what it is | × bare (median of rounds) | req/s (median) | p99 ms (median) | server µs CPU/req | wrk µs CPU/req | others' cores meanwhile | machine busy cores | idle cores | threads (idle) |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var target in targets)
        {
            var mine = runs.Where(run => run.Target == target.Name).ToList();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {target.Name} | {target.What} | {RatioToBare(target.Name):0.00} | {Median(mine.Select(run => run.Rate)):0} | {Median(mine.Select(run => run.P99Ms)):0.00} | " +
                $"{Median(mine.Select(run => run.TargetCpuMicroseconds)):0.0} | {Median(mine.Select(run => run.ClientCpuMicroseconds)):0.0} | {Median(mine.Select(run => run.BystanderCores)):0.00} | " +
                $"{Median(mine.Select(run => run.MachineBusyCores)):0.00} | {idle[target.Name]:0.000} | {Threads(target.ProcessId)} |");
        }

        text.AppendLine();
        text.AppendLine("Every run (rate, ratio to the same round's bare):");
        text.AppendLine();
        text.AppendLine("| round | " + string.Join(" | ", targets.Select(target => target.Name)) + " |");
        text.AppendLine("|---:|" + string.Concat(targets.Select(_ => "---:|")));
        foreach (var round in runs.Select(run => run.Round).Distinct())
        {
            var bare = runs.Single(run => run.Target == "bare" && run.Round == round).Rate;
            var cells = targets.Select(target =>
            {
                var rate = runs.Single(run => run.Target == target.Name && run.Round == round).Rate;
                return string.Create(CultureInfo.InvariantCulture, $"{rate:0} ({rate / bare:0.00})");
            });
            text.Append(CultureInfo.InvariantCulture, $"| {round + 1} | ").Append(string.Join(" | ", cells)).AppendLine(" |");
        }

        text.AppendLine();
        text.AppendLine("The runtime under load (dotnet-counters attached, one more run each; its own CPU is in these runs):");
        text.AppendLine();
        text.AppendLine("| target | req/s | allocated bytes/req | gen0 GCs/s | gen1 GCs/s | gen2 GCs/s | threads (process, loaded) | thread-pool work items/req |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var counted in counters)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {counted.Target} | {counted.Rate:0} | {counted.AllocatedBytesPerRequest:0} | {counted.Gen0PerSecond:0.0} | {counted.Gen1PerSecond:0.0} | {counted.Gen2PerSecond:0.00} | {counted.Threads} | {counted.WorkItemsPerRequest:0.00} |");
        }

        return text.ToString();
    }

    private static string Threads(int processId)
    {
        var line = File.ReadLines($"/proc/{processId}/status").FirstOrDefault(l => l.StartsWith("Threads:", StringComparison.Ordinal));
        return line?.Split(':')[1].Trim() ?? "?";
    }

    /// <summary>CPU seconds of this process's children that have exited and been reaped: the wrk runs.</summary>
    private static double ReapedChildrenCpuSeconds()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // cutime and cstime are fields 16 and 17 of the line, 14 and 15 after the command name.
        return (long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture)) / 100.0;
    }

    /// <summary>Seconds all cores spent neither idle nor waiting for I/O, from /proc/stat.</summary>
    private static double MachineBusySeconds()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(field => long.Parse(field, CultureInfo.InvariantCulture)).ToArray();
        // user nice system idle iowait irq softirq steal (guest time is already in user)
        return (fields.Take(8).Sum() - fields[3] - fields[4]) / 100.0;
    }

    private static async Task<string> LoadAverageAsync(CancellationToken cancellationToken) =>
        string.Join(' ', (await File.ReadAllTextAsync("/proc/loadavg", cancellationToken)).Split(' ').Take(3));
}
