using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using Sensors360.Grains.Alerts;
using Sensors360.Grains.Analytics;
using Sensors360.Grains.Dashboard;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>Size of the fleet the analytics part loads, and how many times each answer is asked for.</summary>
internal sealed record AnalyticsSettings(int Sensors, int HeartbeatsPerSensor, int Requests);

/// <summary>
/// The analytics benchmark: a fleet of years of history (by default 100,000 sensors and about 50 million
/// heartbeats) loaded straight into PostgreSQL, then the fleet's answers (lifespan, interval percentiles,
/// mean interval) timed through the real server and, for the SQL the dashboard grain repeats, directly.
/// The failure prediction is trained over the same fleet (<see cref="PredictionBenchmark"/>), and the naive full
/// scan of every heartbeat runs once at the end so the ratio is visible.
/// </summary>
internal sealed class AnalyticsBenchmark(AnalyticsSettings settings)
{
    // The fleet: installed uniformly over two years (none in the last day, so every sensor has room for a
    // second per heartbeat before now), lifespans Weibull with shape 1.5 and scale 400 days, so about 40%
    // are still alive at the cut-off; 5% are decommissioned at a random age before they would have died.
    private const double WindowDays = 730;
    private const double WeibullShape = 1.5;
    private const double WeibullScaleDays = 400;
    private const double DecommissionedShare = 0.05;
    // Of the sensors that died, the share an operator retired as failed; the rest just went silent.
    private const double RetiredWhenDeadShare = 0.5;
    // One sensor in ten carries this tag, for the filtered lifespan request.
    private const string TenPercentTag = "model-a";
    private const int SensorsPerSlice = 5_000;
    private const int LoadConnections = 2;
    private const int WarmUpRounds = 3;
    private const double GoalMs = 200;

    public async Task<AnalyticsReport> RunAsync(CancellationToken cancellationToken)
    {
        var part = Stopwatch.StartNew();
        Console.WriteLine("Analytics: starting a durable private PostgreSQL and the server (migrations)...");
        await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
        var database = await postgres.CreateDatabaseAsync("analytics");
        var environment = new Dictionary<string, string?> { ["Logging__LogLevel__Default"] = "Warning" };
        string adminPassword;
        // The first server only creates the schema; it is stopped so that nothing reads the tables while they load.
        await using (var first = ServerProcess.Start(database, "analytics", environment))
        {
            await first.WaitUntilReadyAsync();
            adminPassword = first.AdminPassword;
        }

        var loadedAt = DateTimeOffset.UtcNow;
        var setup = await LoadFleetAsync(database, loadedAt, cancellationToken);
        var heartbeats = await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat");
        var databaseBytes = await Sql.ScalarAsync(database, "SELECT pg_database_size(current_database())");

        // A new server holds no aggregate yet: its dashboard grain activates on the first request and reads
        // the loaded fleet, as after any restart.
        Console.WriteLine("Analytics: restarting the server on the loaded fleet...");
        await using var server = ServerProcess.Start(database, "analytics",
            new Dictionary<string, string?>(environment.Concat(PredictionBenchmark.Environment)), adminPassword);
        await server.WaitUntilReadyAsync();
        var meter = new ProcessMeter(server.ProcessId);

        // With no model stored, the silo trains the failure model as soon as it is active, as after any restart, so
        // the first fleet request meets it. The timed answers wait for it: its half minute on a core would fall on them.
        var prediction = new PredictionBenchmark(server, database);
        var startup = prediction.AwaitStartupTrainingAsync(cancellationToken);
        using var client = await server.LoginAsync();
        var activation = Stopwatch.StartNew();
        var fleetJson = await GetAsync(client, "/api/fleet", cancellationToken);
        var firstFleetMs = activation.Elapsed.TotalMilliseconds;
        var lifespanJson = await GetAsync(client, "/api/analytics/lifespan", cancellationToken);
        Console.WriteLine("Analytics: waiting for the failure model the silo trains at start...");
        var startupTraining = await startup;
        Console.WriteLine($"  {startupTraining.Seconds:0.0} s");

        await using var dataSource = new NpgsqlDataSourceBuilder(new NpgsqlConnectionStringBuilder(database) { MaxAutoPrepare = 32 }.ConnectionString).Build();
        var fleetStore = new FleetStore(dataSource);
        var alertStore = new AlertStore(dataSource);
        var lifespanStore = new LifespanStore(dataSource, Options.Create(new AnalyticsOptions()), TimeProvider.System);
        var observations = await lifespanStore.ReadAsync(tag: null, cancellationToken);

        // The server's own code paths, each asked in turn in every round so that the machine's noise falls
        // on all of them alike.
        var targets = new List<(string Name, string What, Func<Task> Run)>
        {
            ("GET /api/analytics/lifespan", "HTTP: the estimate the lifespan grain keeps (refreshed every 30 s), with the curve", () => GetAsync(client, "/api/analytics/lifespan", cancellationToken)),
            ($"GET /api/analytics/lifespan?tag={TenPercentTag}", "HTTP: the same for the 10% of sensors with the tag (a grain of its own)", () => GetAsync(client, $"/api/analytics/lifespan?tag={TenPercentTag}", cancellationToken)),
            ("GET /api/fleet", "HTTP: the dashboard grain's held aggregate (lifespan mean and CI, median/p95/mean interval)", () => GetAsync(client, "/api/fleet", cancellationToken)),
            ("FleetStore.ReadAsync", "SQL of every reconcile (5 s): counts by status, interval totals, both percentiles", () => fleetStore.ReadAsync(cancellationToken)),
            ("heartbeat_interval_percentile ×2", "SQL: median and p95 from the interval histogram alone", () => ScalarAsync(dataSource, "SELECT heartbeat_interval_percentile(0.5), heartbeat_interval_percentile(0.95)", cancellationToken)),
            ("AlertStore.ReadOpenAsync(100)", "SQL of every reconcile: open alert count and the newest 100", () => alertStore.ReadOpenAsync(DashboardGrain.MaxAlerts, cancellationToken)),
            ("LifespanStore.ReadAsync", "SQL of the lifespan grain, every 30 s: one row per sensor", () => lifespanStore.ReadAsync(tag: null, cancellationToken)),
            ("LifespanEstimate.From", "C#, in this process: Kaplan–Meier, Weibull fit and CI over the observations", () => Task.FromResult(LifespanEstimate.From(observations))),
        };

        Console.WriteLine($"Analytics: timing {targets.Count} answers, {settings.Requests} times each after {WarmUpRounds} warm-up rounds...");
        var samples = targets.Select(_ => new List<double>()).ToList();
        for (var round = 0; round < WarmUpRounds + settings.Requests; round++)
        {
            for (var i = 0; i < targets.Count; i++)
            {
                var watch = Stopwatch.StartNew();
                await targets[i].Run();
                if (round >= WarmUpRounds)
                {
                    samples[i].Add(watch.Elapsed.TotalMilliseconds);
                }
            }
        }

        var timings = targets.Select((target, i) => Timing.Of(target.Name, target.What, samples[i])).ToList();
        var residentBytes = meter.ResidentBytes();
        var peakResidentBytes = meter.PeakResidentBytes();

        var predictionReport = await prediction.RunAsync(startupTraining, cancellationToken);

        Console.WriteLine("Analytics: the naive way once: percentiles and mean over lag() of every heartbeat...");
        var naive = await NaiveFullScanAsync(database, cancellationToken);
        var histogram = await fleetStore.ReadAsync(cancellationToken);

        return new AnalyticsReport(
            DateTimeOffset.UtcNow,
            await MachineFacts.ReadAsync(database),
            settings.Sensors,
            heartbeats,
            databaseBytes,
            setup,
            Math.Round(firstFleetMs, 1),
            timings,
            naive,
            new IntervalAnswers(histogram.MedianIntervalSeconds, histogram.P95IntervalSeconds,
                histogram.Intervals == 0 ? null : histogram.IntervalSecondsSum / histogram.Intervals),
            residentBytes,
            peakResidentBytes,
            meter.PeakIsLifetime,
            GoalMs,
            Summary(fleetJson),
            Summary(lifespanJson),
            predictionReport,
            Math.Round(part.Elapsed.TotalSeconds));
    }

    /// <summary>
    /// Fills the database with SQL only: sensors, their heartbeats, open silence alerts for the silent ones,
    /// the interval histogram exactly as migration 0008 backfills it, then statistics and a checkpoint, so the
    /// measurements neither plan blind nor pay for the load's dirty pages. Returns each step's duration.
    /// </summary>
    private async Task<IReadOnlyList<SetupStep>> LoadFleetAsync(string database, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var steps = new List<SetupStep>();
        var total = Stopwatch.StartNew();
        await using var connection = await OpenLoadConnectionAsync(database, cancellationToken);

        // Larger WAL between checkpoints for the load only: with the default 1 GB the bulk insert checkpoints
        // every few seconds and writes every page twice. Reset before anything is measured.
        await ExecuteAsync(connection, "ALTER SYSTEM SET max_wal_size = '16GB'", cancellationToken);
        await ExecuteAsync(connection, "SELECT pg_reload_conf()", cancellationToken);

        await StepAsync(steps, "monthly heartbeat partitions", () =>
            ExecuteAsync(connection, "SELECT ensure_heartbeat_partitions($1 - make_interval(days => $2), $3)", cancellationToken,
                now, (int)WindowDays + 3, (int)Math.Ceiling(WindowDays / 28) + 3));

        await StepAsync(steps, $"{settings.Sensors:N0} sensors", async () =>
        {
            // setseed makes the fleet the same in every run (random() then follows one sequence in this session).
            await ExecuteAsync(connection, "SELECT setseed(0.36)", cancellationToken);
            await ExecuteAsync(connection, SensorsSql, cancellationToken,
                now, settings.Sensors, Math.Max(2, settings.HeartbeatsPerSensor * 2 - 2), WindowDays * 86_400, WeibullScaleDays * 86_400,
                1 / WeibullShape, DecommissionedShare, RetiredWhenDeadShare, TenPercentTag);
        });

        var expected = await Sql.ScalarAsync(database, "SELECT coalesce(sum(heartbeat_count), 0) FROM sensor");
        await StepAsync(steps, $"{expected:N0} heartbeats ({LoadConnections} connections, {SensorsPerSlice:N0} sensors a transaction)",
            () => LoadHeartbeatsAsync(database, expected, cancellationToken));

        await StepAsync(steps, "open silence alerts for sensors silent over 10 minutes", () =>
            ExecuteAsync(connection, """
                INSERT INTO alert (sensor_id, kind, silent_since, raised_at)
                SELECT id, 'silent', last_heartbeat_at + interval '10 minutes', last_heartbeat_at + interval '10 minutes'
                FROM sensor
                WHERE retired_at IS NULL AND last_heartbeat_at < $1 - interval '10 minutes'
                """, cancellationToken, now));

        await StepAsync(steps, "ANALYZE", () => ExecuteAsync(connection, "ANALYZE", cancellationToken));

        // Migration 0008's backfill, word for word: what an upgrade over this fleet would run.
        await StepAsync(steps, "interval histogram (migration 0008's backfill statement)", () =>
            ExecuteAsync(connection, """
                INSERT INTO heartbeat_interval_histogram (shard, bucket, intervals)
                SELECT 0, heartbeat_interval_bucket(gap), count(*)
                FROM (SELECT extract(epoch FROM received_at - lag(received_at) OVER (PARTITION BY sensor_id ORDER BY received_at))::float8 AS gap
                      FROM heartbeat) AS gaps
                WHERE gap IS NOT NULL
                GROUP BY 2
                """, cancellationToken));

        await StepAsync(steps, "VACUUM ANALYZE sensor, alert, histogram; CHECKPOINT", async () =>
        {
            // Visibility map and hint bits set now, so the first timed reads do not write.
            await ExecuteAsync(connection, "VACUUM ANALYZE sensor, alert, heartbeat_interval_histogram", cancellationToken);
            await ExecuteAsync(connection, "ALTER SYSTEM RESET max_wal_size", cancellationToken);
            await ExecuteAsync(connection, "SELECT pg_reload_conf()", cancellationToken);
            await ExecuteAsync(connection, "CHECKPOINT", cancellationToken);
        });

        steps.Add(new SetupStep("total", Math.Round(total.Elapsed.TotalSeconds, 1)));
        Console.WriteLine($"  set-up took {total.Elapsed.TotalSeconds:0.0} s");
        return steps;
    }

    /// <summary>
    /// One row per sensor. Random draws in the innermost query, the fate and the last heartbeat from them in
    /// the next, so every counter agrees with the heartbeats written later from the same row.
    /// $1 now, $2 sensors, $3 most heartbeats per sensor, $4 window (s), $5 Weibull scale (s), $6 1/shape,
    /// $7 decommissioned share, $8 share of the dead retired as failed, $9 the 10% tag.
    /// </summary>
    private const string SensorsSql = """
        INSERT INTO sensor (name, tags, created_at, first_heartbeat_at, last_heartbeat_at, heartbeat_count,
                            retired_at, retired_reason, token_hash)
        SELECT 'fleet-' || g,
               ARRAY['site-' || (g % 50), CASE WHEN g % 10 = 0 THEN $9 ELSE 'model-b' END],
               installed, installed, last_at, beats,
               CASE WHEN fate = 'decommissioned' OR (fate = 'died' AND retired_by_operator) THEN last_at + ($1 - last_at) * retire_after END,
               CASE WHEN fate = 'decommissioned' THEN 'decommissioned' WHEN fate = 'died' AND retired_by_operator THEN 'failed' END,
               'not-a-token-hash'
        FROM (SELECT *,
                     -- At least a second per heartbeat, so received_at stays strictly increasing per sensor.
                     installed + make_interval(secs => greatest(beats,
                         least(life, coalesce(decommission_age, 'Infinity'), age_now - alive_lag))) AS last_at,
                     CASE WHEN decommission_age < least(life, age_now) THEN 'decommissioned'
                          WHEN life < age_now THEN 'died'
                          ELSE 'alive' END AS fate
              FROM (SELECT g, installed, extract(epoch FROM $1 - installed)::float8 AS age_now, life, beats,
                           CASE WHEN decommission_draw < $7 THEN life * decommission_at END AS decommission_age,
                           retired_by_operator, retire_after, alive_lag
                    FROM (SELECT g,
                                 $1 - interval '1 day' - make_interval(secs => random() * $4) AS installed,
                                 $5 * power(-ln(1 - random()), $6) AS life,
                                 2 + floor(random() * ($3 - 1))::int AS beats,
                                 random() AS decommission_draw,
                                 random() AS decommission_at,
                                 random() < $8 AS retired_by_operator,
                                 random() AS retire_after,
                                 random() * 60 AS alive_lag
                          FROM generate_series(1, $2) AS g) AS draws) AS ages) AS fleet
        """;

    /// <summary>
    /// Every sensor's heartbeats from its first to its last, evenly spread with ±20% of a step of jitter
    /// (so intervals vary, and stay strictly increasing), in slices of sensors over a few connections.
    /// </summary>
    private static async Task LoadHeartbeatsAsync(string database, long expected, CancellationToken cancellationToken)
    {
        var (low, high) = await ReadIdRangeAsync(database, cancellationToken);
        var next = low;
        long written = 0;
        var progress = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, LoadConnections).Select(async _ =>
        {
            await using var connection = await OpenLoadConnectionAsync(database, cancellationToken);
            long from;
            while ((from = Interlocked.Add(ref next, SensorsPerSlice) - SensorsPerSlice) <= high)
            {
                var rows = await ExecuteAsync(connection, """
                    INSERT INTO heartbeat (sensor_id, received_at)
                    SELECT s.id,
                           CASE WHEN i = 0 THEN s.first_heartbeat_at
                                WHEN i = s.heartbeat_count - 1 THEN s.last_heartbeat_at
                                ELSE s.first_heartbeat_at + make_interval(secs =>
                                    extract(epoch FROM s.last_heartbeat_at - s.first_heartbeat_at)::float8
                                    * (i + 0.4 * (random() - 0.5)) / (s.heartbeat_count - 1)) END
                    FROM sensor AS s CROSS JOIN LATERAL generate_series(0, s.heartbeat_count - 1) AS i
                    WHERE s.id >= $1 AND s.id < $2
                    """, cancellationToken, from, from + SensorsPerSlice);
                var done = Interlocked.Add(ref written, rows);
                Console.WriteLine($"    {done:N0} of {expected:N0} heartbeats, {done / progress.Elapsed.TotalSeconds:N0}/s");
            }
        }));
    }

    private static async Task<(long Low, long High)> ReadIdRangeAsync(string database, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT min(id), max(id) FROM sensor", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>
    /// A connection for loading: commits do not wait for the WAL flush (the load is redone if the machine
    /// dies), sorts and hashes get memory, and times are UTC. The tables stay logged, as the server reads them.
    /// </summary>
    private static async Task<NpgsqlConnection> OpenLoadConnectionAsync(string database, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await ExecuteAsync(connection, "SET synchronous_commit = off; SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'; SET TIME ZONE 'UTC'", cancellationToken);
        return connection;
    }

    /// <summary>
    /// Median, 95th percentile and mean interval computed from every heartbeat, as without the histogram and
    /// the counters; on a fresh connection with the server's default settings, as a request would run it.
    /// </summary>
    private static async Task<NaiveScan> NaiveFullScanAsync(string database, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap), percentile_cont(0.95) WITHIN GROUP (ORDER BY gap), avg(gap)
            FROM (SELECT extract(epoch FROM received_at - lag(received_at) OVER (PARTITION BY sensor_id ORDER BY received_at))::float8 AS gap
                  FROM heartbeat) AS gaps
            WHERE gap IS NOT NULL
            """, connection) { CommandTimeout = 0 };
        var watch = Stopwatch.StartNew();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var answers = new IntervalAnswers(reader.GetDouble(0), reader.GetDouble(1), reader.GetDouble(2));
        Console.WriteLine($"  naive full scan: {watch.Elapsed.TotalSeconds:0.0} s");
        return new NaiveScan(Math.Round(watch.Elapsed.TotalMilliseconds), answers);
    }

    private static async Task StepAsync(List<SetupStep> steps, string name, Func<Task> step)
    {
        Console.WriteLine($"  {name}...");
        var watch = Stopwatch.StartNew();
        await step();
        steps.Add(new SetupStep(name, Math.Round(watch.Elapsed.TotalSeconds, 1)));
        Console.WriteLine($"  {name}: {watch.Elapsed.TotalSeconds:0.0} s");
    }

    private static async Task<int> ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params object[] values)
    {
        // Loading statements run for minutes: no command timeout.
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        foreach (var value in values)
        {
            command.Parameters.AddWithValue(value);
        }

        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task ScalarAsync(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
        }
    }

    private static async Task<string> GetAsync(HttpClient client, string path, CancellationToken cancellationToken)
    {
        // The whole body is read: serializing and sending the curve is part of the answer's cost.
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"GET {path} answered {(int)response.StatusCode}: {body}");
        }

        return body;
    }

    /// <summary>The scalar fields of an answer (the curve left out), to show what was being computed.</summary>
    private static Dictionary<string, string> Summary(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject()
            .Where(property => property.Name != "curve")
            .ToDictionary(property => property.Name, property => property.Value.GetRawText());
    }
}

/// <summary>One step of the set-up and how long it took.</summary>
internal sealed record SetupStep(string Name, double Seconds);

/// <summary>Latencies of one answer, in milliseconds.</summary>
internal sealed record Timing(string Name, string What, int Count, double P50Ms, double P95Ms, double MaxMs)
{
    public static Timing Of(string name, string what, List<double> samples)
    {
        samples.Sort();
        // Nearest rank: the smallest sample with at least that share of samples at or below it.
        double Rank(double share) => samples[Math.Max(0, (int)Math.Ceiling(share * samples.Count) - 1)];
        return new Timing(name, what, samples.Count, Math.Round(Rank(0.5), 2), Math.Round(Rank(0.95), 2), Math.Round(samples[^1], 2));
    }
}

/// <summary>The fleet's interval answers, in seconds.</summary>
internal sealed record IntervalAnswers(double? MedianSeconds, double? P95Seconds, double? MeanSeconds);

/// <summary>The full scan of every heartbeat: how long it took and what it answered.</summary>
internal sealed record NaiveScan(double Ms, IntervalAnswers Answers);
