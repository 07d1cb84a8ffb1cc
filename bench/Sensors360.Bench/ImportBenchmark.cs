using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>
/// The import benchmark (<c>dotnet Sensors360.Bench.dll import [lines]</c>): streams generated NDJSON history into
/// <c>POST /api/import/heartbeats</c> of a real server on a durable private PostgreSQL, after a warm-up import,
/// then again with three times the lines, and prints lines per second, the server's CPU and its peak memory
/// for each. Memory that stays level while the body triples is what "flat in the size of the body" means.
/// </summary>
internal sealed class ImportBenchmark(long lines)
{
    private const int Sensors = 1_000;
    private const string Prefix = "hist-";

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Console.WriteLine("Starting a durable private PostgreSQL and the server...");
        await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
        var database = await postgres.CreateDatabaseAsync("import-bench");
        await using var server = ServerProcess.Start(database, "import-bench", new Dictionary<string, string?> { ["Logging__LogLevel__Default"] = "Warning" });
        await server.WaitUntilReadyAsync();
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync(cancellationToken);
            await using var insert = new NpgsqlCommand(
                "INSERT INTO sensor (name, token_hash, silence_threshold_seconds) SELECT $2 || g, $3, 86400 FROM generate_series(1, $1) AS g", connection);
            insert.Parameters.AddWithValue(Sensors);
            insert.Parameters.AddWithValue(Prefix);
            insert.Parameters.AddWithValue(SensorTokens.Hash(SensorTokens.NewToken()));
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        var cookies = await server.LoginCookiesAsync();
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = cookies })
        {
            BaseAddress = server.BaseAddress,
            Timeout = Timeout.InfiniteTimeSpan,
            // The import is a cookie-authenticated change: it must name the server's own origin, as its page would.
            DefaultRequestHeaders = { { "Origin", server.Origin } },
        };
        var meter = new ProcessMeter(server.ProcessId);
        // Each run writes its own stretch of the past (distinct times), a heartbeat a minute per sensor.
        var end = DateTimeOffset.UtcNow.AddDays(-1);
        var runs = new (string Name, long Lines)[] { ("warm-up", Math.Max(100_000, lines / 5)), ("measured", lines), ("measured ×3", lines * 3) };
        var offset = 0L;
        foreach (var (name, count) in runs)
        {
            offset += count;
            var start = end.AddMinutes(-(double)offset / Sensors);
            meter.ResetPeak();
            var cpuBefore = meter.CpuSeconds();
            var clock = Stopwatch.StartNew();
            using var content = new StreamContent(new GeneratedLinesStream(count, n => HistoryLine(n, start)), 64 * 1024);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
            using var response = await client.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), content, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var seconds = clock.Elapsed.TotalSeconds;
            var cpu = meter.CpuSeconds() - cpuBefore;
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"The import answered {(int)response.StatusCode}: {body}");
            }

            using var result = JsonDocument.Parse(body);
            var imported = result.RootElement.GetProperty("imported").GetInt64();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {count:N0} lines ({imported:N0} imported) in {seconds:0.0} s = {count / seconds:N0} lines/s; " +
                $"server CPU {cpu / seconds:0.00} cores; server peak RSS {meter.PeakResidentBytes() / 1048576.0:N0} MiB{(meter.PeakIsLifetime ? " (process lifetime)" : "")}"));
        }
    }

    /// <summary>Line <paramref name="n"/> in the simulator's history shape (sensor, time, battery, temperature): sensors in turn, a minute apart.</summary>
    private static string HistoryLine(long n, DateTimeOffset start)
    {
        var at = start.AddMinutes(n / Sensors).ToString("O", CultureInfo.InvariantCulture);
        return string.Create(CultureInfo.InvariantCulture,
            $"{{\"sensor\":\"{Prefix}{n % Sensors + 1}\",\"at\":\"{at}\",\"metrics\":{{\"battery\":{0.9 - n % 800 / 1000.0},\"temperatureC\":{20 + n % 17}}}}}\n");
    }
}
