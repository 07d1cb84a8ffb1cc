using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>Settings of one benchmark run.</summary>
internal sealed record BenchSettings(TimeSpan RunLength, TimeSpan WarmUp, int Concurrency, int Sensors, int ActiveSensors, string ResultsDirectory);

/// <summary>
/// The ingest benchmark: noop, grain, naive and sensors360 side by side against one server, then p99 at
/// 70% of the sensors360 peak, then memory per active sensor grain. Ratios, not absolute numbers, are
/// what to compare: the machine is shared and noisy.
/// </summary>
internal sealed class IngestBenchmark(BenchSettings settings)
{
    private const string LoadPrefix = "load-";

    public async Task<BenchReport> RunAsync(CancellationToken cancellationToken)
    {
        var work = Directory.CreateTempSubdirectory("sensors360-bench-");
        try
        {
            Console.WriteLine("Starting a durable private PostgreSQL and the server...");
            await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
            var database = await postgres.CreateDatabaseAsync("bench");
            await using var server = ServerProcess.Start(database, "bench", new Dictionary<string, string?>
            {
                ["Sensors360__Bench__Enabled"] = "true",
                ["Logging__LogLevel__Default"] = "Warning",
            });
            await server.WaitUntilReadyAsync();
            var meter = new ProcessMeter(server.ProcessId);
            var load = new LoadDriver(server.BaseAddress, server.AdminPassword, Path.Combine(work.FullName, "sensors.json"), work.FullName);
            string[] common = ["--max", "--concurrency", Text(settings.Concurrency), "--sensors", Text(settings.Sensors), "--prefix", LoadPrefix];

            // Provisions the sensors (and warms everything up) through the real route first.
            await load.RunAsync([.. common, "--duration", Seconds(settings.WarmUp)], cancellationToken);

            var runs = new List<BenchRun>();
            foreach (var (name, path, auth) in new[]
            {
                ("noop", "/bench/noop/{id}", false),
                ("grain", "/bench/grain/{id}", true),
                ("naive", "/bench/naive/{id}", false),
                ("sensors360", "/api/sensors/{id}/heartbeat", true),
            })
            {
                string[] arguments = [.. common, "--url-path", path, .. auth ? Array.Empty<string>() : ["--no-auth"]];
                Console.WriteLine($"Measuring {name} ({path})...");
                await load.RunAsync([.. arguments, "--duration", Seconds(settings.WarmUp)], cancellationToken);
                var rowsBefore = await CountHeartbeatsAsync(database);
                meter.ResetPeak();
                var cpuBefore = meter.CpuSeconds();
                var numbers = await load.RunAsync([.. arguments, "--duration", Seconds(settings.RunLength)], cancellationToken);
                var cpu = (meter.CpuSeconds() - cpuBefore) / numbers.ElapsedSeconds;
                var rows = await CountHeartbeatsAsync(database) - rowsBefore;
                runs.Add(new BenchRun(name, path, numbers.SucceededRate, numbers.P50Ms, numbers.P99Ms, numbers.P999Ms, numbers.Errors,
                    Math.Round(cpu, 2), meter.PeakResidentBytes(), rows > 0 ? Math.Round(rows / numbers.ElapsedSeconds, 1) : null));
                Console.WriteLine($"  {numbers.SucceededRate:0}/s, p99 {numbers.P99Ms:0.00} ms, {numbers.Errors} errors");
            }

            var peak = runs.Single(run => run.Name == "sensors360").HeartbeatsPerSecond;
            var rate = Math.Round(peak * 0.7);
            Console.WriteLine($"Measuring sensors360 at 70% of its peak ({rate}/s, open loop)...");
            var steady = await load.RunAsync(
                ["--rate", Text(rate), "--concurrency", Text(Math.Max(256, settings.Concurrency * 4)), "--sensors", Text(settings.Sensors),
                 "--prefix", LoadPrefix, "--duration", Seconds(settings.RunLength)],
                cancellationToken);

            Console.WriteLine($"Measuring memory with {settings.ActiveSensors:N0} active sensors...");
            var (bytes, managed) = await MeasureMemoryPerSensorAsync(server, database, cancellationToken);

            return new BenchReport(
                DateTimeOffset.UtcNow,
                await MachineAsync(database),
                settings.Concurrency,
                settings.RunLength.TotalSeconds,
                settings.Sensors,
                runs,
                new Dictionary<string, double>
                {
                    ["sensors360/noop"] = Math.Round(peak / runs.Single(run => run.Name == "noop").HeartbeatsPerSecond, 3),
                    ["sensors360/naive"] = Math.Round(peak / runs.Single(run => run.Name == "naive").HeartbeatsPerSecond, 3),
                },
                rate,
                steady.P99Ms,
                settings.ActiveSensors,
                Math.Round(bytes),
                Math.Round(managed),
                meter.PeakIsLifetime);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Resident and managed bytes per online sensor grain: heap after a full GC with none of the extra
    /// sensors active, then again after each has sent one real heartbeat (so each holds its record, its
    /// silence timer and its reminder), divided by their number.
    /// </summary>
    private async Task<(double Resident, double Managed)> MeasureMemoryPerSensorAsync(ServerProcess server, string database, CancellationToken cancellationToken)
    {
        var token = SensorTokens.NewToken();
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync(cancellationToken);
            await using var insert = new NpgsqlCommand(
                "INSERT INTO sensor (name, token_hash) SELECT 'mem-' || g, $1 FROM generate_series(1, $2) AS g", connection);
            insert.Parameters.AddWithValue(SensorTokens.Hash(token));
            insert.Parameters.AddWithValue(settings.ActiveSensors);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        var before = await HeapAsync(server, cancellationToken);
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = settings.Concurrency }) { BaseAddress = server.BaseAddress };
        var next = 0;
        var failures = 0;
        await Task.WhenAll(Enumerable.Range(0, settings.Concurrency).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) <= settings.ActiveSensors)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/api/sensors/mem-{index}/heartbeat", UriKind.Relative));
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var response = await client.SendAsync(request, cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }));
        if (failures > 0)
        {
            throw new InvalidOperationException($"{failures} of the {settings.ActiveSensors} activating heartbeats failed.");
        }

        var after = await HeapAsync(server, cancellationToken);
        return ((after.ResidentBytes - before.ResidentBytes) / (double)settings.ActiveSensors,
                (after.ManagedBytes - before.ManagedBytes) / (double)settings.ActiveSensors);
    }

    private static async Task<Heap> HeapAsync(ServerProcess server, CancellationToken cancellationToken)
    {
        using var response = await server.Http.PostAsync(new Uri("/bench/gc", UriKind.Relative), null, cancellationToken);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<Heap>(cancellationToken))!;
    }

    private static Task<long> CountHeartbeatsAsync(string database) => Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat");

    private static async Task<MachineFacts> MachineAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var version = new NpgsqlCommand("SHOW server_version", connection);
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var memoryKb = long.Parse(File.ReadLines("/proc/meminfo").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        var orleans = typeof(IGrainFactory).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion.Split('+')[0] ?? "?";
        return new MachineFacts(Environment.ProcessorCount, memoryKb * 1024, cpu, RuntimeInformation.OSDescription,
            Environment.Version.ToString(), $"PostgreSQL {await version.ExecuteScalarAsync()}", orleans);
    }

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan duration) => Text(duration.TotalSeconds) + "s";

    private sealed record Heap(long ManagedBytes, long ResidentBytes);
}
