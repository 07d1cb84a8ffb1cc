using System.Globalization;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>Settings of the soak run.</summary>
internal sealed record SoakSettings(int Minutes, int Silos, int Sensors, TimeSpan PeakRun, int PeakConcurrency);

/// <summary>
/// The soak benchmark (<c>build.ps1 soak</c>): the cluster's topology (silos behind HAProxy with deploy/haproxy.cfg, one
/// durable PostgreSQL), its peak measured through the balancer by a short run at full speed, then heartbeats at half that
/// peak for the given minutes. Each minute: every silo's resident memory and CPU (from /proc), the minute's p99, its
/// requests and its errors (non-2xx answers and requests without one), printed as it ends, so a leak or a slow drift shows.
/// </summary>
internal sealed class SoakBenchmark(SoakSettings settings)
{
    private const string Prefix = "soak-";

    public async Task<SoakReport> RunAsync(CancellationToken cancellationToken)
    {
        var work = Directory.CreateTempSubdirectory("sensors360-soak-");
        try
        {
            Console.WriteLine($"Starting a durable private PostgreSQL, {settings.Silos} silos and HAProxy...");
            await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
            var database = await postgres.CreateDatabaseAsync("soak");
            await using var cluster = await SiloCluster.StartAsync(database, "soak", settings.Silos, new Dictionary<string, string?>
            {
                // The load drives each sensor faster than a real one; the limiter runs but never refuses.
                ["Sensors360__Ingest__MaxHeartbeatsPerSecond"] = "1000000",
                ["Logging__LogLevel__Default"] = "Warning",
            });
            var balancer = cluster.Balancer.BaseAddress;
            var load = new LoadDriver(balancer, cluster.AdminPassword, Path.Combine(work.FullName, "sensors.json"), work.FullName);
            string[] sensors = ["--sensors", Text(settings.Sensors), "--prefix", Prefix];

            Console.WriteLine($"Provisioning {settings.Sensors:N0} sensors and warming up through {balancer}...");
            await load.RunAsync(["--max", "--concurrency", Text(settings.PeakConcurrency), .. sensors, "--duration", "10s"], cancellationToken);
            Console.WriteLine($"Measuring the peak: {settings.PeakRun.TotalSeconds:0} s at full speed, {settings.PeakConcurrency} connections, through the balancer...");
            var peak = await load.RunAsync(
                ["--max", "--concurrency", Text(settings.PeakConcurrency), .. sensors, "--duration", $"{settings.PeakRun.TotalSeconds:0}s"], cancellationToken);
            var rate = Math.Round(peak.SucceededRate / 2);
            Console.WriteLine($"  peak {peak.SucceededRate:0}/s (p99 {peak.P99Ms:0.00} ms, {peak.Errors} errors); soaking at {rate:0}/s for {settings.Minutes} minutes.");

            var meters = cluster.Silos.Select(silo => new ProcessMeter(silo.ProcessId)).ToList();
            var minutes = new List<SoakMinute>();
            Console.WriteLine(SoakReport.TableHeader(settings.Silos));
            var intervals = Path.Combine(work.FullName, "intervals.ndjson");
            var soak = load.RunAsync(
                ["--rate", Text(rate), "--concurrency", Text(Math.Max(256, settings.PeakConcurrency * 4)), .. sensors,
                 "--duration", $"{settings.Minutes}m", "--intervals", intervals, "--interval", "60s"],
                cancellationToken);
            var reader = new IntervalReader(intervals);
            var samples = meters.Select(meter => (Cpu: meter.CpuSeconds(), At: TimeProvider.System.GetTimestamp())).ToList();
            while (true)
            {
                var done = soak.IsCompleted;
                foreach (var interval in reader.ReadNew())
                {
                    // Sampled when the minute's line appears (within a second of its end): CPU over the same span.
                    var silos = meters.Select((meter, index) =>
                    {
                        var cpu = meter.CpuSeconds();
                        var at = TimeProvider.System.GetTimestamp();
                        var cores = (cpu - samples[index].Cpu) / TimeProvider.System.GetElapsedTime(samples[index].At, at).TotalSeconds;
                        samples[index] = (cpu, at);
                        return new SiloSample(meter.ResidentBytes(), Math.Round(cores, 3));
                    }).ToList();
                    var minute = SoakMinute.From(interval, silos);
                    // The last line holds only the answers that came after the run's end: counted in the totals, not a minute.
                    if (minute.Seconds >= SoakMinute.FullSeconds)
                    {
                        minutes.Add(minute);
                        Console.WriteLine(minute.ToRow());
                    }
                }

                if (done)
                {
                    break;
                }

                await Task.WhenAny(soak, Task.Delay(TimeSpan.FromSeconds(1), cancellationToken));
            }

            var total = await soak;
            return new SoakReport(
                DateTimeOffset.UtcNow,
                await MachineFacts.ReadAsync(database),
                settings.Silos,
                settings.Sensors,
                settings.Minutes,
                new SoakPeak(settings.PeakRun.TotalSeconds, settings.PeakConcurrency, peak.SucceededRate, peak.P99Ms, peak.Errors),
                rate,
                minutes,
                new SoakTotals(total.Succeeded + total.Errors, total.Succeeded, total.Errors, total.SucceededRate, total.P99Ms));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The complete lines the simulator appended to its <c>--intervals</c> file since the last look.</summary>
    private sealed class IntervalReader(string path)
    {
        private int _seen;

        public List<System.Text.Json.JsonElement> ReadNew()
        {
            if (!File.Exists(path))
            {
                return [];
            }

            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var text = new StreamReader(stream);
            var content = text.ReadToEnd();
            // Only whole lines: the last may still be being written.
            var lines = content[..(content.LastIndexOf('\n') + 1)].Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var fresh = lines.Skip(_seen).Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement.Clone()).ToList();
            _seen = lines.Length;
            return fresh;
        }
    }
}
