using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>
/// What watching online sensors costs: <c>memory</c>, bytes per online sensor grain (as the ingest bench's memory
/// step measures it, optionally with a <c>dotnet-gcdump</c> of the heap before and after to see where the bytes go);
/// <c>rewatch</c>, how long after a full restart every online sensor is watched again.
/// <list type="bullet">
/// <item><c>dotnet Sensors360.Bench.dll memory [sensors] [--gcdump DIRECTORY]</c> (default 50,000)</item>
/// <item><c>dotnet Sensors360.Bench.dll rewatch [sensors] [--threshold SECONDS] [--kill true]</c> (default 20,000; threshold 60)</item>
/// </list>
/// </summary>
internal static class WatchBenchmark
{
    private const int Concurrency = 64;

    /// <summary>Runs the step named by <paramref name="args"/>[0]; prints its numbers, writes no file but the dumps.</summary>
    public static async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var positional = args.Skip(1).TakeWhile(arg => !arg.StartsWith("--", StringComparison.Ordinal)).ToList();
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i++)
        {
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                options[args[i][2..]] = args[++i];
            }
        }

        switch (args[0])
        {
            case "memory":
                await MemoryAsync(positional.Count > 0 ? int.Parse(positional[0], CultureInfo.InvariantCulture) : 50_000, options.GetValueOrDefault("gcdump"), cancellationToken);
                return 0;
            case "rewatch":
                await RewatchAsync(
                    positional.Count > 0 ? int.Parse(positional[0], CultureInfo.InvariantCulture) : 20_000,
                    TimeSpan.FromSeconds(int.Parse(options.GetValueOrDefault("threshold", "60"), CultureInfo.InvariantCulture)),
                    options.GetValueOrDefault("kill") == "true",
                    cancellationToken);
                return 0;
            default:
                return 2;
        }
    }

    /// <summary>
    /// Bytes per online sensor grain: the server's heap after a full GC before and after <paramref name="sensors"/>
    /// sensors (provisioned in SQL) each sent one real heartbeat. With <paramref name="gcdumps"/>, a gcdump of each.
    /// </summary>
    private static async Task MemoryAsync(int sensors, string? gcdumps, CancellationToken cancellationToken)
    {
        Console.WriteLine($"Load average: {LoadAverage()}");
        await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
        var database = await postgres.CreateDatabaseAsync("watch_memory");
        await using var server = StartServer(database, "watch-memory", threshold: null);
        await server.WaitUntilReadyAsync();
        var token = await ProvisionAsync(database, "mem-", sensors, cancellationToken);
        // A first small batch warms up the route and the grain code, so the measured difference is the grains'.
        var warm = await ProvisionAsync(database, "warm-", 1000, cancellationToken);
        await BeatAsync(server, "warm-", 1000, warm, cancellationToken);

        var before = await HeapAsync(server, cancellationToken);
        await DumpAsync(server, gcdumps, "before");
        var watch = Stopwatch.StartNew();
        await BeatAsync(server, "mem-", sensors, token, cancellationToken);
        Console.WriteLine($"{sensors:N0} sensors online in {watch.Elapsed.TotalSeconds:0.0} s");
        var after = await HeapAsync(server, cancellationToken);
        await DumpAsync(server, gcdumps, "after");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Memory per online sensor grain ({sensors:N0} vs none, after a full GC): {(after.ResidentBytes - before.ResidentBytes) / (double)sensors:0} bytes RSS, {(after.ManagedBytes - before.ManagedBytes) / (double)sensors:0} bytes managed heap"));
        Console.WriteLine($"Silence reminders held: {await ScalarAsync(database, "SELECT count(*) FROM orleans_reminder WHERE reminder_name = 'silence'", cancellationToken)}");
        Console.WriteLine($"Load average: {LoadAverage()}");
    }

    /// <summary>
    /// A full restart with <paramref name="sensors"/> online sensors that all stop reporting at the moment the silo
    /// goes down: their silences come due while no silo runs, so after the restart every one is due at once, the
    /// worst case. A sensor counts as watched again once its silence alert is raised; the step reports how long after
    /// the new silo was ready the first, half, 90% and all of them were.
    /// </summary>
    private static async Task RewatchAsync(int sensors, TimeSpan threshold, bool kill, CancellationToken cancellationToken)
    {
        Console.WriteLine($"Load average: {LoadAverage()}");
        await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
        var database = await postgres.CreateDatabaseAsync("watch_restart");
        string adminPassword;
        await using (var first = StartServer(database, "watch-restart", threshold))
        {
            adminPassword = first.AdminPassword;
            await first.WaitUntilReadyAsync();
            // After the server made the schema.
            var token = await ProvisionAsync(database, "watch-", sensors, cancellationToken);
            var online = Stopwatch.StartNew();
            await BeatAsync(first, "watch-", sensors, token, cancellationToken);
            Console.WriteLine($"{sensors:N0} sensors online in {online.Elapsed.TotalSeconds:0.0} s; " +
                $"{await ScalarAsync(database, "SELECT count(*) FROM orleans_reminder WHERE reminder_name = 'silence'", cancellationToken)} silence reminders");
            if (kill)
            {
                first.KillAbruptly();
            }
            else
            {
                await first.StopAsync();
            }
        }

        // Down until every silence is due: nobody watched them come due.
        var lastHeartbeat = await TimeAsync(database, "SELECT max(received_at) FROM heartbeat", cancellationToken);
        var dueAt = lastHeartbeat + threshold;
        var wait = dueAt - DateTimeOffset.UtcNow;
        Console.WriteLine($"Silo {(kill ? "killed (kill -9)" : "stopped")}; down for {Math.Max(0, wait.TotalSeconds):0} s more, until every silence is due.");
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, cancellationToken);
        }

        Console.WriteLine($"Load average at restart: {LoadAverage()}");
        var restart = Stopwatch.StartNew();
        await using var second = StartServer(database, "watch-restart", threshold, adminPassword);
        await second.WaitUntilReadyAsync();
        var ready = restart.Elapsed;
        Console.WriteLine($"Restarted: ready after {ready.TotalSeconds:0.0} s");

        // How many raised alerts make each mark: the first, half, 90% and all of them.
        (string Name, long Needed)[] shares = [("first", 1), ("half", (sensors + 1) / 2), ("90%", (long)Math.Ceiling(sensors * 0.9)), ("all", sensors)];
        var marks = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        var timeout = TimeSpan.FromMinutes(30);
        long raised = 0;
        while (raised < sensors && restart.Elapsed < timeout)
        {
            raised = await ScalarAsync(database, "SELECT count(*) FROM alert WHERE kind = 'silent'", cancellationToken);
            foreach (var (name, needed) in shares)
            {
                if (raised >= needed)
                {
                    marks.TryAdd(name, restart.Elapsed - ready);
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
        }

        Console.WriteLine($"Load average after: {LoadAverage()}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"""
            Full restart with {sensors:N0} online sensors, all silent at restart ({(kill ? "kill -9" : "SIGTERM")}, threshold {threshold.TotalSeconds:0} s):
              process start to ready: {ready.TotalSeconds:0.0} s
              ready to the first silence raised: {Mark(marks, "first")}
              ready to half raised: {Mark(marks, "half")}; to 90%: {Mark(marks, "90%")}; to all: {Mark(marks, "all")}
              raised: {raised:N0} of {sensors:N0}
            """));
        // What raised them: the sweep's lines (in bulk, through grains) beside the reminders' work.
        foreach (var line in second.Output.Where(line => line.Contains("Silence sweep", StringComparison.Ordinal)))
        {
            Console.WriteLine($"  server: {line}");
        }
    }

    private static string Mark(Dictionary<string, TimeSpan> marks, string name) =>
        marks.TryGetValue(name, out var at) ? string.Create(CultureInfo.InvariantCulture, $"{at.TotalSeconds:0.0} s") : "not reached";

    private static ServerProcess StartServer(string database, string cluster, TimeSpan? threshold, string? adminPassword = null)
    {
        var environment = new Dictionary<string, string?>
        {
            ["Sensors360__Bench__Enabled"] = "true",
            ["Sensors360__Ingest__MaxHeartbeatsPerSecond"] = "1000000",
            ["Logging__LogLevel__Default"] = "Warning",
            // The sweep's line per bulk raise, printed after the restart step.
            ["Logging__LogLevel__Sensors360.Grains.Sensors.SilenceSweep"] = "Information",
        };
        if (threshold is { } seconds)
        {
            environment["Sensors360__Monitoring__SilenceThreshold"] = seconds.ToString("c", CultureInfo.InvariantCulture);
        }

        return ServerProcess.Start(database, cluster, environment, adminPassword);
    }

    /// <summary>Inserts <paramref name="count"/> sensors named prefix1.., all with one token; returns the token.</summary>
    private static async Task<string> ProvisionAsync(string database, string prefix, int count, CancellationToken cancellationToken)
    {
        var token = SensorTokens.NewToken();
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using var insert = new NpgsqlCommand("INSERT INTO sensor (name, token_hash) SELECT $3 || g, $1 FROM generate_series(1, $2) AS g", connection);
        insert.Parameters.AddWithValue(SensorTokens.Hash(token));
        insert.Parameters.AddWithValue(count);
        insert.Parameters.AddWithValue(prefix);
        await insert.ExecuteNonQueryAsync(cancellationToken);
        return token;
    }

    /// <summary>One real heartbeat from each of the sensors, <see cref="Concurrency"/> at a time; every one must be stored.</summary>
    private static async Task BeatAsync(ServerProcess server, string prefix, int count, string token, CancellationToken cancellationToken)
    {
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency }) { BaseAddress = server.BaseAddress };
        var next = 0;
        var failures = 0;
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) <= count)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/api/sensors/{prefix}{index}/heartbeat", UriKind.Relative));
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var response = await client.SendAsync(request, cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref failures);
                    statuses.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
                }
            }
        }));
        if (failures > 0)
        {
            // What the server said about them: its warnings, beside the answers' status codes.
            foreach (var line in server.Output.Where(line => line.Contains("warn", StringComparison.Ordinal)).TakeLast(20))
            {
                Console.WriteLine($"  server: {line}");
            }

            throw new InvalidOperationException(
                $"{failures} of the {count} heartbeats were not stored ({string.Join(", ", statuses.Select(status => $"{status.Value} × {status.Key}"))}).");
        }
    }

    private static async Task<HeapNumbers> HeapAsync(ServerProcess server, CancellationToken cancellationToken)
    {
        using var response = await server.Http.PostAsync(new Uri("/bench/gc", UriKind.Relative), null, cancellationToken);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<HeapNumbers>(cancellationToken))!;
    }

    /// <summary>A gcdump of the server's heap (the tool forces a full GC), with the repository's local tool.</summary>
    private static async Task DumpAsync(ServerProcess server, string? directory, string name)
    {
        if (directory is null)
        {
            return;
        }

        Directory.CreateDirectory(directory);
        var output = Path.GetFullPath(Path.Combine(directory, $"{name}.gcdump"));
        using var tool = Process.Start(new ProcessStartInfo("dotnet", ["dotnet-gcdump", "collect", "-p", server.ProcessId.ToString(CultureInfo.InvariantCulture), "-o", output])
        {
            RedirectStandardOutput = true,
        })!;
        await tool.StandardOutput.ReadToEndAsync();
        await tool.WaitForExitAsync();
        Console.WriteLine(tool.ExitCode == 0 ? $"gcdump: {output}" : $"gcdump {name} failed (exit {tool.ExitCode})");
    }

    private static async Task<long> ScalarAsync(string database, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private static async Task<DateTimeOffset> TimeAsync(string database, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        return new DateTimeOffset((DateTime)(await command.ExecuteScalarAsync(cancellationToken))!, TimeSpan.Zero);
    }

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Trim();

    private sealed record HeapNumbers(long ManagedBytes, long ResidentBytes);
}
