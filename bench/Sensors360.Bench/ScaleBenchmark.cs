using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>Settings of the scale step: how many sensors to provision, how many of them to bring online, the wrk runs.</summary>
internal sealed record ScaleSettings(int Provisioned, int Online, TimeSpan RunLength, int Concurrency, int OnlineConcurrency, string Wrk);

/// <summary>
/// The scale of one silo: <see cref="ScaleSettings.Provisioned"/> sensors provisioned through <c>POST /api/sensors/bulk</c>
/// (timed), <see cref="ScaleSettings.Online"/> of them brought online with one heartbeat each (timed: every one activates
/// its grain), then the heartbeat peak with all online tokens round-robin beside the same route over 1,000 of them and
/// the no-op route (ratios within this run), memory before and after (full GC), the database's size, how long the
/// fleet-wide reads take at this size, and how long a restarted server takes to be ready.
/// </summary>
internal sealed class ScaleBenchmark(ScaleSettings settings)
{
    private const string Prefix = "scale-";
    private const int BulkSize = 10_000;
    private const int SmallFleet = 1_000;

    public async Task<ScaleReport> RunAsync(CancellationToken cancellationToken)
    {
        var work = Directory.CreateTempSubdirectory("sensors360-scale-");
        try
        {
            Console.WriteLine("Starting a durable private PostgreSQL and the server...");
            await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
            var database = await postgres.CreateDatabaseAsync("scale");
            var environment = new Dictionary<string, string?>
            {
                ["Sensors360__Bench__Enabled"] = "true",
                ["Sensors360__Ingest__MaxHeartbeatsPerSecond"] = "1000000",
                // The sensors never brought online must not go silent (never reported) during the run: the sweep would
                // wake their grains and the memory measured would no longer be that of the online ones.
                ["Sensors360__Monitoring__SilenceThreshold"] = "7.00:00:00",
                ["Logging__LogLevel__Default"] = "Warning",
            };
            var started = Stopwatch.StartNew();
            var server = ServerProcess.Start(database, "scale", environment);
            await using var stopServer = server;
            await server.WaitUntilReadyAsync();
            var emptyStart = started.Elapsed.TotalSeconds;
            var meter = new ProcessMeter(server.ProcessId);
            using var admin = await server.LoginAsync(timeout: TimeSpan.FromMinutes(5));

            Console.WriteLine($"Provisioning {settings.Provisioned:N0} sensors through POST /api/sensors/bulk, {BulkSize:N0} a request...");
            var empty = await HeapAsync(server, cancellationToken);
            var provisioning = Stopwatch.StartNew();
            var online = new List<LoadSensor>(settings.Online);
            var requestSeconds = new List<double>();
            for (var first = 0; first < settings.Provisioned; first += BulkSize)
            {
                var count = Math.Min(BulkSize, settings.Provisioned - first);
                var request = Stopwatch.StartNew();
                var created = await ProvisionAsync(admin, first, count, cancellationToken);
                requestSeconds.Add(request.Elapsed.TotalSeconds);
                online.AddRange(created.Take(Math.Max(0, settings.Online - online.Count)));
                if ((first / BulkSize) % 10 == 9)
                {
                    Console.WriteLine($"  {first + count:N0} after {provisioning.Elapsed.TotalSeconds:0} s");
                }
            }

            var provisionSeconds = provisioning.Elapsed.TotalSeconds;
            requestSeconds.Sort();
            Console.WriteLine($"  {settings.Provisioned / provisionSeconds:0} sensors/s, median request {requestSeconds[requestSeconds.Count / 2]:0.00} s");
            var provisioned = await HeapAsync(server, cancellationToken);

            Console.WriteLine($"Bringing {online.Count:N0} sensors online, one heartbeat each ({settings.OnlineConcurrency} at a time)...");
            var activityBefore = await FirstHeartbeatCost.StartAsync(database, cancellationToken);
            var activating = Stopwatch.StartNew();
            await FirstHeartbeatsAsync(server, online, cancellationToken);
            var activationSeconds = activating.Elapsed.TotalSeconds;
            Console.WriteLine($"  {online.Count / activationSeconds:0} sensors/s");
            var firstHeartbeatCost = await activityBefore.FinishAsync(database, online.Count, cancellationToken);
            Console.WriteLine($"  per sensor: {firstHeartbeatCost.Describe()}");

            var wrk = new WrkDriver(settings.Wrk, work.FullName, threads: 2, settings.Concurrency);
            var small = online.Take(SmallFleet).ToList();
            var runs = new List<ScaleRun>();
            foreach (var (name, path, auth, sensors) in new[]
            {
                ("noop", "/bench/noop/{id}", false, online),
                ($"heartbeat, {small.Count:N0} sensors", "/api/sensors/{id}/heartbeat", true, small),
                ($"heartbeat, {online.Count:N0} sensors", "/api/sensors/{id}/heartbeat", true, online),
            })
            {
                Console.WriteLine($"Measuring {name}...");
                await wrk.RunAsync(server.BaseAddress, path, auth, sensors, TimeSpan.FromSeconds(3), cancellationToken);
                // Only the heartbeat runs write sensor rows (their checkpoints); the no-op run skips the waits.
                SensorRowUpdates? updatesBefore = auth ? await SensorRowUpdates.ReadSettledAsync(database, cancellationToken) : null;
                DateTime? runStart = auth ? await HeardSensors.NowAsync(database, cancellationToken) : null;
                meter.ResetPeak();
                var cpuBefore = meter.CpuSeconds();
                var numbers = await wrk.RunAsync(server.BaseAddress, path, auth, sensors, settings.RunLength, cancellationToken);
                var cpuCores = Math.Round((meter.CpuSeconds() - cpuBefore) / numbers.ElapsedSeconds, 2);
                // The checkpoints' row updates in the run, HOT or not: whether each new version fits on its row's page is
                // the table's fill; which rows they were (how many sensors the run reached) decides how often a page is
                // rewritten.
                SensorRowUpdates? updates = updatesBefore is { } before ? await SensorRowUpdates.ReadSettledAsync(database, cancellationToken) - before : null;
                HeardSensors? heard = runStart is { } start ? await HeardSensors.SinceAsync(database, start, cancellationToken) : null;
                runs.Add(new ScaleRun(name, sensors.Count, Math.Round(numbers.SucceededRate), Math.Round(numbers.P99Ms, 2), numbers.Errors,
                    cpuCores, updates?.Updates, updates?.HotShare, heard?.Heartbeats, heard?.Sensors,
                    heard is { Seconds: > 0 } span ? Math.Round(span.Heartbeats / span.Seconds) : null));
                Console.WriteLine($"  {numbers.SucceededRate:0}/s, p99 {numbers.P99Ms:0.00} ms, {numbers.Errors} errors{(updates is { } u ? $"; {u.Updates:N0} sensor row updates, {u.HotShare * 100:0}% HOT" : "")}{(heard is { } h ? $"; {h.Heartbeats:N0} heartbeats stored from {h.Sensors:N0} sensors over {h.Seconds:0.0} s" : "")}");
            }

            var afterRuns = await HeapAsync(server, cancellationToken);
            var activeGrains = await ActiveSensorGrainsAsync(database, cancellationToken);
            var reads = await TimeReadsAsync(admin, database, cancellationToken);
            var sizes = await SizesAsync(database, cancellationToken);

            var restart = await RestartAsync(server, database, environment);
            Console.WriteLine($"  {restart} (an empty database: ready after {emptyStart:0.0} s)");

            return new ScaleReport(
                DateTimeOffset.UtcNow,
                await MachineFacts.ReadAsync(database),
                LoadAverage(),
                settings.Provisioned,
                online.Count,
                Math.Round(provisionSeconds, 1),
                Math.Round(settings.Provisioned / provisionSeconds),
                Math.Round(requestSeconds[requestSeconds.Count / 2], 3),
                Math.Round(requestSeconds[^1], 3),
                Math.Round(activationSeconds, 1),
                Math.Round(online.Count / activationSeconds),
                settings.OnlineConcurrency,
                firstHeartbeatCost,
                runs,
                Math.Round(runs[2].HeartbeatsPerSecond / runs[0].HeartbeatsPerSecond, 3),
                Math.Round(runs[2].HeartbeatsPerSecond / runs[1].HeartbeatsPerSecond, 3),
                new ScaleMemory(empty.ResidentBytes, empty.ManagedBytes, provisioned.ResidentBytes, provisioned.ManagedBytes,
                    afterRuns.ResidentBytes, afterRuns.ManagedBytes,
                    Math.Round((afterRuns.ResidentBytes - provisioned.ResidentBytes) / (double)online.Count),
                    Math.Round((afterRuns.ManagedBytes - provisioned.ManagedBytes) / (double)online.Count)),
                activeGrains,
                sizes,
                reads,
                Math.Round(emptyStart, 1),
                restart,
                $"wrk -t2 -c{settings.Concurrency}, {settings.RunLength.TotalSeconds:0} s a run");
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Stops the server and starts it again on the full database: how long until it is ready, and whether it stays up
    /// while the online sensors' reminders wake their grains (a failure is reported, not thrown: the numbers before stand).
    /// </summary>
    private static async Task<string> RestartAsync(ServerProcess server, string database, Dictionary<string, string?> environment)
    {
        Console.WriteLine("Restarting the server on the full database...");
        try
        {
            await server.StopAsync();
            var restarting = Stopwatch.StartNew();
            await using var again = ServerProcess.Start(database, "scale", environment);
            await again.WaitUntilReadyAsync();
            var ready = restarting.Elapsed.TotalSeconds;
            // Up a minute later too, when the reminders of the online sensors have fired.
            await Task.Delay(TimeSpan.FromMinutes(1));
            using var probe = await again.Http.GetAsync(new Uri("/readyz", UriKind.Relative));
            return string.Create(CultureInfo.InvariantCulture,
                $"ready after {ready:0.0} s; a minute later {(again.HasExited ? "exited" : $"/readyz {(int)probe.StatusCode}")}");
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or HttpRequestException or TaskCanceledException)
        {
            return $"failed: {e.Message.Split('\n')[0]}";
        }
    }

    private static async Task<List<LoadSensor>> ProvisionAsync(HttpClient admin, int first, int count, CancellationToken cancellationToken)
    {
        var body = new { sensors = Enumerable.Range(first, count).Select(index => new { id = $"{Prefix}{index}", tags = new[] { $"site-{index % 100}" } }) };
        using var response = await admin.PostAsJsonAsync(new Uri("/api/sensors/bulk", UriKind.Relative), body, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Bulk provisioning from {first} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }

        using var created = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
        return [.. created.RootElement.GetProperty("sensors").EnumerateArray()
            .Select(sensor => new LoadSensor(sensor.GetProperty("id").GetString()!, sensor.GetProperty("token").GetString()!))];
    }

    private async Task FirstHeartbeatsAsync(ServerProcess server, List<LoadSensor> sensors, CancellationToken cancellationToken)
    {
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = settings.OnlineConcurrency }) { BaseAddress = server.BaseAddress };
        var next = -1;
        var failures = 0;
        await Task.WhenAll(Enumerable.Range(0, settings.OnlineConcurrency).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < sensors.Count)
            {
                var sensor = sensors[index];
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/api/sensors/{sensor.Id}/heartbeat", UriKind.Relative));
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", sensor.Token);
                using var response = await client.SendAsync(request, cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }));
        if (failures > 0)
        {
            throw new InvalidOperationException($"{failures} of the {sensors.Count} first heartbeats failed.");
        }
    }

    /// <summary>Online sensors by the database (their first heartbeat is checkpointed at once): every one brought online.</summary>
    private static Task<long> ActiveSensorGrainsAsync(string database, CancellationToken cancellationToken) =>
        Sql.ScalarAsync(database, "SELECT count(*) FROM sensor WHERE first_heartbeat_at IS NOT NULL");

    /// <summary>
    /// How long the reads that span the fleet take at this size: the first page of the list, a filtered page, the
    /// aggregate; then, in the database, the dashboard grain's whole-fleet count and one page of the silence sweep as
    /// a mass outage would make it (every sensor overdue).
    /// </summary>
    private static async Task<IReadOnlyDictionary<string, double>> TimeReadsAsync(HttpClient admin, string database, CancellationToken cancellationToken)
    {
        var reads = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var path in new[] { "/api/sensors?limit=100", "/api/sensors?status=online&limit=100", "/api/sensors?tag=site-7&limit=100", "/api/fleet", "/api/alerts" })
        {
            await admin.GetStringAsync(new Uri(path, UriKind.Relative), cancellationToken);
            var timer = Stopwatch.StartNew();
            await admin.GetStringAsync(new Uri(path, UriKind.Relative), cancellationToken);
            reads[$"`GET {path}`"] = Math.Round(timer.Elapsed.TotalMilliseconds, 1);
            Console.WriteLine($"  GET {path}: {timer.Elapsed.TotalMilliseconds:0.0} ms");
        }

        await using var db = NpgsqlDataSource.Create(database);
        var fleet = new Grains.Dashboard.FleetStore(db);
        await fleet.ReadAsync(cancellationToken);
        var count = Stopwatch.StartNew();
        await fleet.ReadAsync(cancellationToken);
        reads["fleet count (FleetStore, the dashboard grain's reconcile)"] = Math.Round(count.Elapsed.TotalMilliseconds, 1);

        // The run's threshold is 7 days: a clock 8 days ahead makes every sensor overdue, as after a long outage.
        var outage = DateTimeOffset.UtcNow.AddDays(8);
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await Grains.Sensors.SensorStore.ReadOverdueAsync(connection, transaction, outage, TimeSpan.FromDays(7), 100, cancellationToken);
        // As the sweep reads it: one statement, then page after page of its cursor.
        var sweep = Stopwatch.StartNew();
        var backlog = await Grains.Sensors.SensorStore.OpenOverdueAsync(connection, transaction, outage, TimeSpan.FromDays(7), cancellationToken);
        var first = await backlog.ReadAsync(Grains.Sensors.SilenceSweep.PageSize, cancellationToken);
        var firstPageMs = sweep.Elapsed.TotalMilliseconds;
        var backlogCount = first.Count;
        for (var page = first; page.Count == Grains.Sensors.SilenceSweep.PageSize;)
        {
            page = await backlog.ReadAsync(Grains.Sensors.SilenceSweep.PageSize, cancellationToken);
            backlogCount += page.Count;
        }

        reads[$"silence sweep's overdue read, first page ({first.Count:N0}) with every sensor overdue"] = Math.Round(firstPageMs, 1);
        reads[$"silence sweep's overdue read, the whole backlog ({backlogCount:N0}) in pages of {Grains.Sensors.SilenceSweep.PageSize:N0}"] = Math.Round(sweep.Elapsed.TotalMilliseconds, 1);
        foreach (var name in reads.Keys.Skip(reads.Count - 3))
        {
            Console.WriteLine($"  {name}: {reads[name]:0.0} ms");
        }

        return reads;
    }

    private static async Task<IReadOnlyDictionary<string, long>> SizesAsync(string database, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        // A partitioned table's own size is nothing: its partitions hold the rows.
        await using var command = new NpgsqlCommand("""
            SELECT 'sensor', pg_total_relation_size('sensor')
            UNION ALL SELECT 'heartbeat', (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint FROM pg_partition_tree('heartbeat'))
            UNION ALL SELECT 'orleans_reminder', pg_total_relation_size('orleans_reminder')
            UNION ALL SELECT 'audit_event', pg_total_relation_size('audit_event')
            UNION ALL SELECT 'database', pg_database_size(current_database())
            UNION ALL SELECT 'heartbeat rows', (SELECT count(*) FROM heartbeat)
            """, connection);
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            sizes[reader.GetString(0)] = reader.GetInt64(1);
        }

        return sizes;
    }

    private static async Task<ScaleHeap> HeapAsync(ServerProcess server, CancellationToken cancellationToken)
    {
        using var response = await server.Http.PostAsync(new Uri("/bench/gc", UriKind.Relative), null, cancellationToken);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<ScaleHeap>(cancellationToken))!;
    }

    private static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private sealed record ScaleHeap(long ManagedBytes, long ResidentBytes);
}

internal sealed record ScaleRun(
    string Name, int Sensors, double HeartbeatsPerSecond, double P99Ms, long Errors, double CpuCores, long? SensorUpdates, double? SensorHotShare,
    long? HeartbeatsStored, long? SensorsHeard, double? StoredPerSecond);

/// <summary>
/// The heartbeats stored since a moment of the database's clock, from how many distinct sensors, and the seconds between
/// the first and the last of them. <c>received_at</c> is the server's clock, so the start compares the two machines'
/// clocks (one machine here); the span is the server's alone, a rate wrk's own timing cannot skew.
/// </summary>
internal readonly record struct HeardSensors(long Heartbeats, long Sensors, double Seconds)
{
    public static async Task<DateTime> NowAsync(string database, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT clock_timestamp()", connection);
        return (DateTime)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public static async Task<HeardSensors> SinceAsync(string database, DateTime since, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            SELECT count(*), count(DISTINCT sensor_id), coalesce(extract(epoch FROM max(received_at) - min(received_at)), 0)::float8
            FROM heartbeat WHERE received_at >= $1
            """, connection);
        command.Parameters.AddWithValue(since);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new HeardSensors(reader.GetInt64(0), reader.GetInt64(1), reader.GetDouble(2));
    }
}

/// <summary>The <c>sensor</c> table's row updates so far and how many of them were HOT (the new version on the old one's page, no index entry).</summary>
internal readonly record struct SensorRowUpdates(long Updates, long Hot)
{
    public double HotShare => Updates == 0 ? 0 : Math.Round(Hot / (double)Updates, 3);

    public static SensorRowUpdates operator -(SensorRowUpdates after, SensorRowUpdates before) => new(after.Updates - before.Updates, after.Hot - before.Hot);

    public static async Task<SensorRowUpdates> ReadAsync(string database, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'sensor'", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new SensorRowUpdates(reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>
    /// How long to wait before reading what the load just did: its last checkpoint statement is written up to a
    /// checkpoint period (2 s) after it, and a backend flushes its statistics when idle, at the latest ten seconds
    /// after that (PostgreSQL 15).
    /// </summary>
    public static readonly TimeSpan StatisticsSettle = TimeSpan.FromSeconds(13);

    /// <summary>Read once the other backends have flushed what the load until now wrote (<see cref="StatisticsSettle"/>).</summary>
    public static async Task<SensorRowUpdates> ReadSettledAsync(string database, CancellationToken cancellationToken)
    {
        await Task.Delay(StatisticsSettle, cancellationToken);
        return await ReadAsync(database, cancellationToken);
    }
}

/// <summary>The server's memory after a full GC: empty, with every sensor provisioned (none active), with the online ones active.</summary>
internal sealed record ScaleMemory(
    long EmptyResidentBytes, long EmptyManagedBytes, long ProvisionedResidentBytes, long ProvisionedManagedBytes,
    long OnlineResidentBytes, long OnlineManagedBytes, double ResidentBytesPerOnlineSensor, double ManagedBytesPerOnlineSensor);

/// <summary>What the scale step measured, as written to bench/results/scale.json and scale.md.</summary>
internal sealed record ScaleReport(
    DateTimeOffset At,
    MachineFacts Machine,
    string LoadAverageAtEnd,
    int Provisioned,
    int Online,
    double ProvisionSeconds,
    double ProvisionedPerSecond,
    double MedianBulkRequestSeconds,
    double SlowestBulkRequestSeconds,
    double OnlineSeconds,
    double OnlinePerSecond,
    int OnlineConcurrency,
    FirstHeartbeatCost FirstHeartbeatCost,
    IReadOnlyList<ScaleRun> Runs,
    double HeartbeatOverNoop,
    double ManyOverFewSensors,
    ScaleMemory Memory,
    long OnlineInDatabase,
    IReadOnlyDictionary<string, long> Sizes,
    IReadOnlyDictionary<string, double> ReadMilliseconds,
    double EmptyStartSeconds,
    string Restart,
    string Client)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public async Task WriteAsync(string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "scale.json"), JsonSerializer.Serialize(this, Json) + "\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "scale.md"), ToMarkdown(), cancellationToken);
    }

    public string ToMarkdown()
    {
        var invariant = CultureInfo.InvariantCulture;
        static string MiB(long bytes) => (bytes / (1024.0 * 1024)).ToString("N0", CultureInfo.InvariantCulture) + " MiB";
        var text = new StringBuilder()
            .AppendLine(invariant, $"# Scale of one silo, {At:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine(invariant, $"{Machine.Describe()} Load average at the end: {LoadAverageAtEnd}. Client: {Client}.")
            .AppendLine()
            .AppendLine(invariant, $"- Provisioned {Provisioned:N0} sensors through `POST /api/sensors/bulk` in {ProvisionSeconds:0.0} s: {ProvisionedPerSecond:N0} sensors/s (median request of 10,000: {MedianBulkRequestSeconds:0.00} s, slowest {SlowestBulkRequestSeconds:0.00} s).")
            .AppendLine(invariant, $"- Brought {Online:N0} online (one heartbeat each, every one activating its grain, {OnlineConcurrency} at a time) in {OnlineSeconds:0.0} s: {OnlinePerSecond:N0} sensors/s; {OnlineInDatabase:N0} online by the database.")
            .AppendLine(invariant, $"- What bringing them online cost the database, per sensor: {FirstHeartbeatCost.Describe()}.")
            .AppendLine(invariant, $"- Heartbeat peak with all {Online:N0} online tokens round-robin: {HeartbeatOverNoop:0.00}× the no-op route, {ManyOverFewSensors:0.00}× the same route over 1,000 of them.")
            .AppendLine()
            .AppendLine("| run | sensors | req/s | p99 ms | errors | server CPU (cores) | `sensor` row updates (HOT) | heartbeats stored, from sensors | stored/s (server's clock) |")
            .AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var run in Runs)
        {
            text.AppendLine(invariant, $"| {run.Name} | {run.Sensors:N0} | {run.HeartbeatsPerSecond:N0} | {run.P99Ms:0.00} | {run.Errors} | {run.CpuCores:0.00} | {(run.SensorUpdates is { } updates ? $"{updates:N0} ({run.SensorHotShare * 100:0}%)" : "–")} | {(run.HeartbeatsStored is { } stored ? $"{stored:N0}, {run.SensorsHeard:N0}" : "–")} | {(run.StoredPerSecond is { } rate ? $"{rate:N0}" : "–")} |");
        }

        text.AppendLine()
            .AppendLine("| server memory (after a full GC) | RSS | managed heap |")
            .AppendLine("|---|---:|---:|")
            .AppendLine(invariant, $"| empty | {MiB(Memory.EmptyResidentBytes)} | {MiB(Memory.EmptyManagedBytes)} |")
            .AppendLine(invariant, $"| {Provisioned:N0} provisioned, none active | {MiB(Memory.ProvisionedResidentBytes)} | {MiB(Memory.ProvisionedManagedBytes)} |")
            .AppendLine(invariant, $"| {Online:N0} online, after the runs | {MiB(Memory.OnlineResidentBytes)} | {MiB(Memory.OnlineManagedBytes)} |")
            .AppendLine(invariant, $"| per online sensor | {Memory.ResidentBytesPerOnlineSensor:N0} B | {Memory.ManagedBytesPerOnlineSensor:N0} B |")
            .AppendLine()
            .AppendLine("| database | size |")
            .AppendLine("|---|---:|");
        foreach (var (name, size) in Sizes)
        {
            var shown = name.EndsWith("rows", StringComparison.Ordinal) ? size.ToString("N0", invariant) : MiB(size);
            text.AppendLine(invariant, $"| {name} | {shown} |");
        }

        text.AppendLine()
            .AppendLine("| read at this size | ms |")
            .AppendLine("|---|---:|");
        foreach (var (path, milliseconds) in ReadMilliseconds)
        {
            text.AppendLine(invariant, $"| {path} | {milliseconds:0.0} |");
        }

        return text.AppendLine()
            .AppendLine(invariant, $"Server start to ready: {EmptyStartSeconds:0.0} s on the empty database. Restarted on the full one: {Restart}.")
            .ToString();
    }
}

/// <summary>
/// What bringing sensors online cost the database, per sensor: commits, <c>sensor</c> row updates (and the share that was
/// HOT: the first checkpoint widens each row), reminder writes, WAL flushes (pg_stat views), and the calls and database time of the statements that took the most (pg_stat_statements),
/// over the whole phase.
/// </summary>
internal sealed record FirstHeartbeatCost(
    double Commits,
    double SensorUpdates,
    double SensorHotShare,
    double ReminderWrites,
    double WalSyncs,
    IReadOnlyDictionary<string, double> StatementCalls,
    IReadOnlyDictionary<string, double> StatementMilliseconds)
{
    internal sealed record Counters(long Commits, SensorRowUpdates SensorRows, long ReminderWrites, long WalSyncs);

    /// <summary>The counters before the phase; pg_stat_statements starts from zero.</summary>
    public sealed class Start
    {
        private readonly Counters _before;

        internal Start(Counters before) => _before = before;

        public async Task<FirstHeartbeatCost> FinishAsync(string database, int sensors, CancellationToken cancellationToken)
        {
            await Task.Delay(SensorRowUpdates.StatisticsSettle, cancellationToken);
            await using var connection = new NpgsqlConnection(database);
            await connection.OpenAsync(cancellationToken);
            var after = await ReadAsync(connection, cancellationToken);
            var calls = new Dictionary<string, double>(StringComparer.Ordinal);
            var milliseconds = new Dictionary<string, double>(StringComparer.Ordinal);
            await using (var top = new NpgsqlCommand("""
                SELECT calls, total_exec_time, left(regexp_replace(query, '\s+', ' ', 'g'), 90)
                FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                ORDER BY total_exec_time DESC LIMIT 6
                """, connection))
            {
                await using var reader = await top.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    calls[reader.GetString(2)] = Math.Round(reader.GetInt64(0) / (double)sensors, 3);
                    milliseconds[reader.GetString(2)] = Math.Round(reader.GetDouble(1) / sensors, 3);
                }
            }

            return new FirstHeartbeatCost(
                Math.Round((after.Commits - _before.Commits) / (double)sensors, 3),
                Math.Round((after.SensorRows - _before.SensorRows).Updates / (double)sensors, 3),
                (after.SensorRows - _before.SensorRows).HotShare,
                Math.Round((after.ReminderWrites - _before.ReminderWrites) / (double)sensors, 3),
                Math.Round((after.WalSyncs - _before.WalSyncs) / (double)sensors, 3),
                calls,
                milliseconds);
        }
    }

    public static async Task<Start> StartAsync(string database, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using (var reset = new NpgsqlCommand("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()", connection))
        {
            await reset.ExecuteNonQueryAsync(cancellationToken);
        }

        return new Start(await ReadAsync(connection, cancellationToken));
    }

    private static async Task<Counters> ReadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT pg_stat_force_next_flush(),
                   (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
                   (SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'sensor'),
                   (SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'sensor'),
                   (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_user_tables WHERE relname = 'orleans_reminder'),
                   (SELECT wal_sync FROM pg_stat_wal)
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new Counters(reader.GetInt64(1), new SensorRowUpdates(reader.GetInt64(2), reader.GetInt64(3)), reader.GetInt64(4), reader.GetInt64(5));
    }

    public string Describe()
    {
        var invariant = CultureInfo.InvariantCulture;
        var statements = string.Join("; ", StatementCalls.Select(call =>
            string.Create(invariant, $"{call.Value:0.###} × `{call.Key}` ({StatementMilliseconds[call.Key]:0.###} ms)")));
        return string.Create(invariant,
            $"{Commits:0.###} commits, {SensorUpdates:0.###} `sensor` row updates ({SensorHotShare * 100:0}% HOT), {ReminderWrites:0.###} reminder writes, {WalSyncs:0.###} WAL flushes; statements by database time (calls, ms): {statements}");
    }
}
