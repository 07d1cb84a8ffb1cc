using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>
/// How big the partition trial's fleet is and how long it runs. <paramref name="HistoryPerSensor"/> heartbeats per
/// sensor are loaded first (half in the previous month), then every (batch size, layout) pair is written to for
/// <paramref name="RunLength"/> per round by <paramref name="Writers"/> connections, the heartbeat writer's count.
/// </summary>
internal sealed record PartitionTrialSettings(
    int Sensors, int HistoryPerSensor, TimeSpan RunLength, int Rounds, IReadOnlyList<int> BatchSizes, int Writers,
    int SensorReads, int FleetReads)
{
    /// <summary>100,000 sensors and 3 million heartbeats per layout, 10 s runs, 3 rounds: about 12 minutes here.</summary>
    public static PartitionTrialSettings Full { get; } = new(100_000, 30, TimeSpan.FromSeconds(10), 3, [16, 256], 4, 200, 5);

    /// <summary>Small and short, to check the machinery (about a minute; its numbers are not results).</summary>
    public static PartitionTrialSettings Quick { get; } = new(10_000, 10, TimeSpan.FromSeconds(2), 1, [16, 256], 4, 20, 2);
}

/// <summary>
/// The trial of part 6 of issue 14 (<c>build.ps1 bench -Partition</c>): is the heartbeat table better hash-partitioned
/// by sensor inside each month, on one database? One durable private PostgreSQL holds one database per layout: today's
/// (range by month, schema/0001) and the same table with each month sub-partitioned by HASH(sensor_id) into 8 and 32.
/// Each gets the same fleet and history, then, side by side in one run (layouts interleaved, a CHECKPOINT before each
/// run so every run pays the same first-touch page images), the heartbeat writer's batch insert (HeartbeatLog's
/// <c>INSERT ... unnest</c>, autocommitted) at the same batch sizes and writer count: rows/s, commit latency, WAL
/// bytes per row and how much of it is full-page images; then the table and index bytes per row; then the reads the product runs on
/// heartbeats, per sensor and fleet-wide; then retention's archive read and schema/0015's detach-and-drop of a month.
/// The alert resolutions and interval counts HeartbeatLog sends in the same batch do not touch <c>heartbeat</c>, so
/// they are left out: they cost the same under every layout.
/// </summary>
internal sealed class PartitionTrial(PartitionTrialSettings settings)
{
    // Fixed instants rather than today's, so the trial's months are the same in every run: the history's last
    // heartbeat is at HistoryEnd, the checkpoint a sensor's row holds is CheckpointLag before it, and the measured
    // inserts start a minute after it, one microsecond apart, so every sensor's times keep increasing.
    private static readonly DateTimeOffset PreviousMonth = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset HistoryEnd = new(2026, 2, 10, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan HistoryInterval = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan CheckpointLag = TimeSpan.FromMinutes(10);
    private static readonly DateTimeOffset InsertStart = HistoryEnd.AddMinutes(1);
    private const string Metrics = """{"battery": 0.91, "temperature": 21.5}""";

    private static readonly Layout[] Layouts =
    [
        new("range-month", "today: range by month (schema/0001)", 0),
        new("hash-8", "each month hash-partitioned by sensor_id into 8", 8),
        new("hash-32", "each month hash-partitioned by sensor_id into 32", 32),
    ];

    public async Task<PartitionReport> RunAsync(CancellationToken cancellationToken)
    {
        var part = Stopwatch.StartNew();
        Console.WriteLine("Partition trial: starting a durable private PostgreSQL...");
        await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
        var databases = new List<TrialDatabase>();
        try
        {
            foreach (var layout in Layouts)
            {
                var connectionString = new NpgsqlConnectionStringBuilder(await postgres.CreateDatabaseAsync(layout.Name))
                {
                    // As the server's pool: each writer's statement is planned once per connection.
                    MaxAutoPrepare = 32,
                    CommandTimeout = 600,
                }.ConnectionString;
                var database = new TrialDatabase(layout, NpgsqlDataSource.Create(connectionString), connectionString);
                databases.Add(database);
                Console.WriteLine($"Partition trial: {layout.Name}: schema and {settings.Sensors:N0} sensors × {settings.HistoryPerSensor} heartbeats...");
                var load = Stopwatch.StartNew();
                await CreateAsync(database, cancellationToken);
                await LoadAsync(database, cancellationToken);
                database.LoadSeconds = load.Elapsed.TotalSeconds;
            }

            var loadAverageBefore = LoadAverage();
            var inserts = await InsertRunsAsync(databases, cancellationToken);
            foreach (var database in databases)
            {
                await ExecuteAsync(database.Source, "VACUUM ANALYZE heartbeat", cancellationToken);
            }

            var sizes = new List<LayoutSize>();
            foreach (var database in databases)
            {
                sizes.Add(await SizeAsync(database, cancellationToken));
            }

            var reads = await ReadRunsAsync(databases, cancellationToken);
            var retention = new List<RetentionStep>();
            foreach (var database in databases)
            {
                retention.Add(await RetentionAsync(database, cancellationToken));
            }

            return new PartitionReport(
                DateTimeOffset.UtcNow,
                await MachineFacts.ReadAsync(databases[0].ConnectionString),
                settings.Sensors,
                settings.HistoryPerSensor,
                settings.Writers,
                settings.RunLength.TotalSeconds,
                settings.Rounds,
                [.. Layouts.Select(layout => layout.Name)],
                [.. databases.Select(database => Math.Round(database.LoadSeconds, 1))],
                inserts,
                sizes,
                reads,
                retention,
                loadAverageBefore,
                LoadAverage(),
                Math.Round(part.Elapsed.TotalSeconds));
        }
        finally
        {
            foreach (var database in databases)
            {
                await database.Source.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The heartbeat table as schema/0001 and 0004 make it (no foreign key), a narrow <c>sensor</c> with the checkpoint
    /// the reads start from, and three months; for a hash layout each month is itself partitioned by sensor.
    /// </summary>
    private static async Task CreateAsync(TrialDatabase database, CancellationToken cancellationToken)
    {
        var ddl = new StringBuilder("""
            CREATE TABLE sensor (id bigint PRIMARY KEY, last_heartbeat_at timestamptz);
            CREATE TABLE heartbeat (
                sensor_id   bigint      NOT NULL,
                received_at timestamptz NOT NULL,
                metrics     jsonb,
                CONSTRAINT heartbeat_pkey PRIMARY KEY (sensor_id, received_at)
            ) PARTITION BY RANGE (received_at);
            CREATE INDEX heartbeat_received_at_brin ON heartbeat USING brin (received_at);
            CREATE TABLE heartbeat_default PARTITION OF heartbeat DEFAULT;

            """);
        var invariant = CultureInfo.InvariantCulture;
        for (var month = PreviousMonth; month <= PreviousMonth.AddMonths(2); month = month.AddMonths(1))
        {
            var name = $"heartbeat_{month:yyyy_MM}";
            ddl.Append(invariant, $"CREATE TABLE {name} PARTITION OF heartbeat FOR VALUES FROM ('{month:yyyy-MM-dd}T00:00:00Z') TO ('{month.AddMonths(1):yyyy-MM-dd}T00:00:00Z')");
            if (database.Layout.HashPartitions == 0)
            {
                ddl.AppendLine(";");
                continue;
            }

            ddl.AppendLine(" PARTITION BY HASH (sensor_id);");
            for (var remainder = 0; remainder < database.Layout.HashPartitions; remainder++)
            {
                ddl.AppendLine(invariant, $"CREATE TABLE {name}_h{remainder} PARTITION OF {name} FOR VALUES WITH (MODULUS {database.Layout.HashPartitions}, REMAINDER {remainder});");
            }
        }

        // pg_walinspect (contrib, PostgreSQL 15+) measures the full-page images in each run's WAL.
        ddl.AppendLine("CREATE EXTENSION pg_walinspect;");
        await ExecuteAsync(database.Source, ddl.ToString(), cancellationToken);
        // The retention's own drop function, as the product installs it (the server embeds the schema files).
        await ExecuteAsync(database.Source, SchemaFile("0015_drop_archived_heartbeat_partitions.sql"), cancellationToken);
    }

    /// <summary>
    /// The same history in every layout, in time order as it would have arrived: the first half of each sensor's heartbeats
    /// in the previous month, the rest every five minutes up to <see cref="HistoryEnd"/>; then statistics and a checkpoint.
    /// </summary>
    private async Task LoadAsync(TrialDatabase database, CancellationToken cancellationToken)
    {
        var inPrevious = settings.HistoryPerSensor / 2;
        await ExecuteAsync(database.Source, "INSERT INTO sensor (id, last_heartbeat_at) SELECT s, $1 FROM generate_series(1, $2) AS s",
            cancellationToken, HistoryEnd - CheckpointLag, (long)settings.Sensors);
        await ExecuteAsync(database.Source, """
            INSERT INTO heartbeat (sensor_id, received_at, metrics)
            SELECT s, CASE WHEN k < $3 THEN $4 + make_interval(days => 19) + k * $6
                           ELSE $5 - ($2 - 1 - k) * $6 END, $7::jsonb
            FROM generate_series(0, $2 - 1) AS k CROSS JOIN generate_series(1, $1) AS s
            ORDER BY k, s
            """, cancellationToken, (long)settings.Sensors, settings.HistoryPerSensor, inPrevious, PreviousMonth, HistoryEnd, HistoryInterval, Metrics);
        await ExecuteAsync(database.Source, "VACUUM ANALYZE", cancellationToken);
        await ExecuteAsync(database.Source, "CHECKPOINT", cancellationToken);
    }

    /// <summary>Every (round, batch size) runs each layout once, in an order that rotates, so the machine's noise falls on all alike.</summary>
    private async Task<IReadOnlyList<InsertResult>> InsertRunsAsync(List<TrialDatabase> databases, CancellationToken cancellationToken)
    {
        // One unrecorded run per layout first, so the first recorded run does not also pay for JIT, connections and cold caches.
        foreach (var database in databases)
        {
            await InsertRunAsync(database, settings.BatchSizes[0], cancellationToken);
        }

        var runs = new Dictionary<(string Layout, int Batch), List<InsertRun>>();
        for (var round = 0; round < settings.Rounds; round++)
        {
            foreach (var batchSize in settings.BatchSizes)
            {
                for (var i = 0; i < databases.Count; i++)
                {
                    var database = databases[(i + round) % databases.Count];
                    var run = await InsertRunAsync(database, batchSize, cancellationToken);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  round {round + 1}, batch {batchSize}, {database.Layout.Name}: {run.Rows / run.Seconds:0} rows/s, {run.WalBytes / (double)run.Rows:0} WAL B/row, p99 commit {Quantiles.NearestRank(run.CommitMs, 0.99):0.0} ms"));
                    var key = (database.Layout.Name, batchSize);
                    if (!runs.TryGetValue(key, out var list))
                    {
                        runs[key] = list = [];
                    }

                    list.Add(run);
                }
            }
        }

        return [.. settings.BatchSizes.SelectMany(batch => Layouts.Select(layout =>
        {
            var list = runs[(layout.Name, batch)];
            var rows = list.Sum(run => run.Rows);
            var seconds = list.Sum(run => run.Seconds);
            var commit = Quantiles.NearestRanks([.. list.SelectMany(run => run.CommitMs)], 0.5, 0.99);
            return new InsertResult(layout.Name, batch, Math.Round(rows / seconds), rows,
                Math.Round(list.Sum(run => run.WalBytes) / (double)rows, 1),
                Math.Round(list.Sum(run => run.PageImageBytes) / (double)rows, 1),
                Math.Round(commit[0], 2), Math.Round(commit[1], 2),
                [.. list.Select(run => Math.Round(run.Rows / run.Seconds))]);
        }))];
    }

    /// <summary>
    /// <see cref="PartitionTrialSettings.Writers"/> connections each write batches of <paramref name="batchSize"/> heartbeats of
    /// sensors in a shuffled order (each writer owns every Writers-th sensor, as a grain is never in two batches at once).
    /// </summary>
    private async Task<InsertRun> InsertRunAsync(TrialDatabase database, int batchSize, CancellationToken cancellationToken)
    {
        await ExecuteAsync(database.Source, "CHECKPOINT", cancellationToken);
        var startLsn = await ScalarAsync<string>(database.Source, "SELECT pg_current_wal_flush_lsn()::text", cancellationToken);
        var writers = new List<Task<(long Rows, List<double> CommitMs)>>();
        var watch = Stopwatch.StartNew();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(settings.RunLength);
        for (var writer = 0; writer < settings.Writers; writer++)
        {
            writers.Add(WriteAsync(database, writer, batchSize, stop.Token));
        }

        var results = await Task.WhenAll(writers);
        var seconds = watch.Elapsed.TotalSeconds;
        // Every commit was flushed, so the flush position covers the run; pg_walinspect reads only flushed WAL.
        var endLsn = await ScalarAsync<string>(database.Source, "SELECT pg_current_wal_flush_lsn()::text", cancellationToken);
        var walBytes = await ScalarAsync<decimal>(database.Source, "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)", cancellationToken, endLsn, startLsn);
        // The page images' bytes are summed from the run's WAL itself, not from pg_stat_wal, which backends report only now and then.
        var imageBytes = await ScalarAsync<decimal>(database.Source,
            "SELECT coalesce(sum(fpi_size), 0) FROM pg_get_wal_stats($1::pg_lsn, $2::pg_lsn)", cancellationToken, startLsn, endLsn);
        return new InsertRun(results.Sum(result => result.Rows), seconds, (long)walBytes, (long)imageBytes, [.. results.SelectMany(result => result.CommitMs)]);
    }

    private async Task<(long Rows, List<double> CommitMs)> WriteAsync(TrialDatabase database, int writer, int batchSize, CancellationToken stop)
    {
        var owned = Enumerable.Range(1, settings.Sensors).Where(id => id % settings.Writers == writer).Select(id => (long)id).ToArray();
        new Random(writer * 7919 + batchSize).Shuffle(owned);
        var sensorIds = new long[batchSize];
        var receivedAt = new DateTimeOffset[batchSize];
        var metrics = Enumerable.Repeat<string?>(Metrics, batchSize).ToArray();
        var commits = new List<double>();
        long rows = 0;
        var next = 0;
        await using var connection = await database.Source.OpenConnectionAsync(CancellationToken.None);
        await using var insert = new NpgsqlCommand(
            "INSERT INTO heartbeat (sensor_id, received_at, metrics) SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::jsonb[])", connection);
        insert.Parameters.Add(new NpgsqlParameter { Value = sensorIds });
        insert.Parameters.Add(new NpgsqlParameter { Value = receivedAt });
        insert.Parameters.Add(new NpgsqlParameter { Value = metrics, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        while (!stop.IsCancellationRequested)
        {
            // Ticks are taken in order from one counter per database, and a sensor belongs to one writer, so each
            // sensor's times increase and its key never collides.
            var firstTick = Interlocked.Add(ref database.Ticks, batchSize) - batchSize;
            for (var i = 0; i < batchSize; i++)
            {
                sensorIds[i] = owned[next];
                next = (next + 1) % owned.Length;
                receivedAt[i] = InsertStart.AddTicks((firstTick + i) * TimeSpan.TicksPerMicrosecond);
            }

            var watch = Stopwatch.StartNew();
            await insert.ExecuteNonQueryAsync(CancellationToken.None);
            commits.Add(watch.Elapsed.TotalMilliseconds);
            rows += batchSize;
        }

        return (rows, commits);
    }

    /// <summary>Heap and index bytes of every leaf partition, per stored row.</summary>
    private static async Task<LayoutSize> SizeAsync(TrialDatabase database, CancellationToken cancellationToken)
    {
        var rows = await ScalarAsync<long>(database.Source, "SELECT count(*) FROM heartbeat", cancellationToken);
        var btree = await ScalarAsync<long>(database.Source, """
            SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0)::bigint
            FROM pg_partition_tree('heartbeat') AS p
            JOIN pg_index i ON i.indrelid = p.relid
            JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_am am ON am.oid = c.relam
            WHERE p.isleaf AND am.amname = 'btree'
            """, cancellationToken);
        var heap = await ScalarAsync<long>(database.Source, "SELECT sum(pg_relation_size(relid))::bigint FROM pg_partition_tree('heartbeat') WHERE isleaf", cancellationToken);
        var indexes = await ScalarAsync<long>(database.Source, "SELECT sum(pg_indexes_size(relid))::bigint FROM pg_partition_tree('heartbeat') WHERE isleaf", cancellationToken);
        var leaves = await ScalarAsync<long>(database.Source, "SELECT count(*) FROM pg_partition_tree('heartbeat') WHERE isleaf", cancellationToken);
        return new LayoutSize(database.Layout.Name, rows, leaves, Math.Round(heap / (double)rows, 1), Math.Round(indexes / (double)rows, 2),
            Math.Round(btree / (double)rows, 2), Math.Round((indexes - btree) / (double)rows, 3));
    }

    /// <summary>
    /// The reads the product runs on heartbeats, the same sensors in every layout, layouts interleaved per repetition:
    /// three of one sensor (a grain's or the API's) and two over the whole fleet (the sweep's and the dashboard's).
    /// </summary>
    private async Task<IReadOnlyList<ReadResult>> ReadRunsAsync(List<TrialDatabase> databases, CancellationToken cancellationToken)
    {
        var checkpoint = HistoryEnd - CheckpointLag;
        var reads = new (string Name, string What, string Sql, Func<Random, object[]> Parameters, int Repeats)[]
        {
            ("history page", "HeartbeatHistory.PageAsync, no time bounds: a sensor's newest 100 (GET /api/sensors/{id}/heartbeats)",
                "SELECT received_at, metrics::text FROM heartbeat WHERE sensor_id = $1 ORDER BY received_at DESC LIMIT 100",
                random => [RandomSensor(random)], settings.SensorReads),
            ("series, 24 h hourly", "HeartbeatHistory.SeriesAsync's shape: a sensor's heartbeats counted per hour over a day (GET .../series)",
                """
                SELECT slot.at, coalesce(b.count, 0) FROM generate_series(0, 23) AS n
                CROSS JOIN LATERAL (SELECT $2::timestamptz + n * interval '1 hour' AS at) AS slot
                LEFT JOIN (SELECT date_bin(interval '1 hour', received_at, $2) AS at, count(*) AS count FROM heartbeat
                           WHERE sensor_id = $1 AND received_at >= $2 AND received_at < $3 GROUP BY 1) AS b ON b.at = slot.at
                ORDER BY slot.at
                """,
                random => [RandomSensor(random), HistoryEnd.AddHours(-23), HistoryEnd.AddHours(1)], settings.SensorReads),
            ("rebuild one sensor", "sensor_status_rebuilt's lateral for one sensor (a grain's activation, GET /api/sensors/{id})",
                "SELECT count(*), min(received_at), max(received_at) FROM heartbeat WHERE sensor_id = $1 AND received_at > $2",
                random => [RandomSensor(random), checkpoint], settings.SensorReads),
            ("fleet: rows after each checkpoint", "the sweep's and sensor_status_rebuilt's probe for every sensor of the fleet (one key probe per sensor)",
                """
                SELECT count(l.last_at) FROM sensor s
                CROSS JOIN LATERAL (SELECT max(h.received_at) AS last_at FROM heartbeat h
                                    WHERE h.sensor_id = s.id AND h.received_at > coalesce(s.last_heartbeat_at, '-infinity')) AS l
                """,
                _ => [], settings.FleetReads),
            ("fleet: recent tally", "FleetStore.ReadRecentAsync: per second, heartbeats and intervals over the last 5 minutes (lag() over the last hour)",
                Grains.Dashboard.FleetStore.RecentTallyStatement,
                _ => [HistoryEnd.AddMinutes(-4), InsertStart.AddMinutes(1)], settings.FleetReads),
        };

        var results = new List<ReadResult>();
        foreach (var read in reads)
        {
            Console.WriteLine($"Partition trial: timing '{read.Name}', {read.Repeats} times per layout...");
            var samples = databases.Select(_ => new List<double>()).ToList();
            var plans = new List<string>();
            // One warm-up each, so no layout pays the first plan and the cold cache alone.
            foreach (var database in databases)
            {
                await TimeAsync(database, read.Sql, read.Parameters(new Random(1)), cancellationToken);
                plans.Add(await PlanSummaryAsync(database, read.Sql, read.Parameters(new Random(1)), cancellationToken));
            }

            for (var repeat = 0; repeat < read.Repeats; repeat++)
            {
                for (var i = 0; i < databases.Count; i++)
                {
                    var index = (i + repeat) % databases.Count;
                    samples[index].Add(await TimeAsync(databases[index], read.Sql, read.Parameters(new Random(repeat + 2)), cancellationToken));
                }
            }

            for (var i = 0; i < databases.Count; i++)
            {
                var time = Quantiles.NearestRanks(samples[i], 0.5, 0.95);
                results.Add(new ReadResult(read.Name, read.What, databases[i].Layout.Name, samples[i].Count,
                    Math.Round(time[0], 3), Math.Round(time[1], 3), plans[i]));
            }
        }

        return results;
    }

    private long RandomSensor(Random random) => random.NextInt64(1, settings.Sensors + 1);

    private static async Task<double> TimeAsync(TrialDatabase database, string sql, object[] parameters, CancellationToken cancellationToken)
    {
        await using var connection = await database.Source.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in parameters)
        {
            command.Parameters.AddWithValue(parameter);
        }

        var watch = Stopwatch.StartNew();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
        }

        return watch.Elapsed.TotalMilliseconds;
    }

    /// <summary>Planning time, and the partitions the executor actually read (subplans removed, buffers), from EXPLAIN ANALYZE.</summary>
    private static async Task<string> PlanSummaryAsync(TrialDatabase database, string sql, object[] parameters, CancellationToken cancellationToken)
    {
        await using var connection = await database.Source.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, connection);
        foreach (var parameter in parameters)
        {
            command.Parameters.AddWithValue(parameter);
        }

        var json = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
        using var document = JsonDocument.Parse(json);
        var top = document.RootElement[0];
        var plan = top.GetProperty("Plan");
        var scans = 0;
        long removed = 0;
        Walk(plan);
        return string.Create(CultureInfo.InvariantCulture,
            $"planning {top.GetProperty("Planning Time").GetDouble():0.00} ms, {scans} partition scans in the plan, {removed} pruned at run time, {plan.GetProperty("Shared Hit Blocks").GetInt64() + plan.GetProperty("Shared Read Blocks").GetInt64()} buffers");

        void Walk(JsonElement node)
        {
            var type = node.GetProperty("Node Type").GetString();
            if (type is not null && type.Contains("Scan", StringComparison.Ordinal) && node.TryGetProperty("Relation Name", out var relation)
                && relation.GetString()!.StartsWith("heartbeat_", StringComparison.Ordinal))
            {
                scans++;
            }

            if (node.TryGetProperty("Subplans Removed", out var gone))
            {
                removed += gone.GetInt64();
            }

            if (node.TryGetProperty("Plans", out var children))
            {
                foreach (var child in children.EnumerateArray())
                {
                    Walk(child);
                }
            }
        }
    }

    /// <summary>
    /// What retention does to the previous month: reads it in key order as the archive does (HeartbeatRetention), then
    /// calls schema/0015's <c>drop_heartbeat_partition</c> with the count, which detaches and drops it. For a hash layout
    /// the month is a partitioned table: the detach and the drop take its sub-partitions with it.
    /// </summary>
    private static async Task<RetentionStep> RetentionAsync(TrialDatabase database, CancellationToken cancellationToken)
    {
        var month = $"heartbeat_{PreviousMonth:yyyy_MM}";
        var read = Stopwatch.StartNew();
        var archived = await ScalarAsync<long>(database.Source,
            $"SELECT count(*) FROM (SELECT h.sensor_id, h.received_at, h.metrics::text FROM \"{month}\" h ORDER BY h.sensor_id, h.received_at) AS a", cancellationToken);
        var readMs = read.Elapsed.TotalMilliseconds;
        var drop = Stopwatch.StartNew();
        var dropped = await ScalarAsync<bool>(database.Source, "SELECT drop_heartbeat_partition($1, $2)", cancellationToken, PreviousMonth, archived);
        var dropMs = drop.Elapsed.TotalMilliseconds;
        var left = await ScalarAsync<long>(database.Source,
            "SELECT count(*) FROM pg_class WHERE relname LIKE $1", cancellationToken, $"heartbeat\\_{PreviousMonth:yyyy\\_MM}%");
        return new RetentionStep(database.Layout.Name, archived, Math.Round(readMs), dropped && left == 0, Math.Round(dropMs, 1));
    }

    private static string SchemaFile(string name)
    {
        using var stream = Assembly.Load(new AssemblyName("Sensors360.Server")).GetManifestResourceStream($"schema.{name}")
            ?? throw new InvalidOperationException($"The server assembly does not embed schema/{name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static async Task ExecuteAsync(NpgsqlDataSource source, string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        await using var command = source.CreateCommand(sql);
        foreach (var parameter in parameters)
        {
            command.Parameters.AddWithValue(parameter);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource source, string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        await using var command = source.CreateCommand(sql);
        foreach (var parameter in parameters)
        {
            command.Parameters.AddWithValue(parameter);
        }

        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private sealed record Layout(string Name, string What, int HashPartitions);

    private sealed class TrialDatabase(Layout layout, NpgsqlDataSource source, string connectionString)
    {
        public Layout Layout { get; } = layout;

        public NpgsqlDataSource Source { get; } = source;

        public string ConnectionString { get; } = connectionString;

        public double LoadSeconds { get; set; }

        /// <summary>Microseconds after <see cref="InsertStart"/> handed out so far; shared by the writers.</summary>
        public long Ticks;
    }

    private sealed record InsertRun(long Rows, double Seconds, long WalBytes, long PageImageBytes, IReadOnlyList<double> CommitMs);
}

/// <summary>One layout at one batch size over all rounds: rows/s, WAL bytes per row (and of them, full-page images'), commit latency.</summary>
internal sealed record InsertResult(string Layout, int BatchSize, double RowsPerSecond, long Rows, double WalBytesPerRow,
    double PageImageBytesPerRow, double CommitP50Ms, double CommitP99Ms, IReadOnlyList<double> RowsPerSecondPerRound);

/// <summary>Bytes per stored row after the trial: heap, all indexes, the b-tree keys, the BRIN.</summary>
internal sealed record LayoutSize(string Layout, long Rows, long LeafPartitions, double HeapBytesPerRow, double IndexBytesPerRow,
    double KeyIndexBytesPerRow, double BrinBytesPerRow);

/// <summary>One read under one layout: median and 95th percentile, and what its plan touched.</summary>
internal sealed record ReadResult(string Read, string What, string Layout, int Samples, double MedianMs, double P95Ms, string Plan);

/// <summary>Retention's archive read of the previous month and schema/0015's detach-and-drop of it.</summary>
internal sealed record RetentionStep(string Layout, long Rows, double ArchiveReadMs, bool Dropped, double DropMs);

/// <summary>What <c>build.ps1 bench -Partition</c> measured, as written to bench/results/partition.md and partition.json.</summary>
internal sealed record PartitionReport(
    DateTimeOffset At,
    MachineFacts Machine,
    int Sensors,
    int HistoryPerSensor,
    int Writers,
    double SecondsPerRun,
    int Rounds,
    IReadOnlyList<string> Layouts,
    IReadOnlyList<double> LoadSeconds,
    IReadOnlyList<InsertResult> Inserts,
    IReadOnlyList<LayoutSize> Sizes,
    IReadOnlyList<ReadResult> Reads,
    IReadOnlyList<RetentionStep> Retention,
    string LoadAverageBefore,
    string LoadAverageAfter,
    double Seconds)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public async Task WriteAsync(string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "partition.json"), JsonSerializer.Serialize(this, Json) + "\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "partition.md"), ToMarkdown(), cancellationToken);
    }

    public string ToMarkdown()
    {
        var invariant = CultureInfo.InvariantCulture;
        var baseline = Layouts[0];
        var text = new StringBuilder()
            .AppendLine(invariant, $"# Partition trial, {At:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine(Machine.Describe())
            .AppendLine(invariant, $"Load average (1, 5, 15 min) before the inserts: {LoadAverageBefore}; at the end: {LoadAverageAfter}. {Sensors:N0} sensors, {HistoryPerSensor} heartbeats each loaded first; {Writers} writer connections, {SecondsPerRun:0} s per run, {Rounds} rounds, layouts interleaved; a CHECKPOINT before every run; durable PostgreSQL defaults. Took {Seconds:0} s.")
            .AppendLine()
            .AppendLine("## Group-committed insert")
            .AppendLine()
            .AppendLine(invariant, $"| layout | batch | rows/s | × {baseline} | per round | commit p50 ms | commit p99 ms | WAL B/row | × {baseline} | of it page images B/row |")
            .AppendLine("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|");
        foreach (var insert in Inserts)
        {
            var reference = Inserts.First(other => other.Layout == baseline && other.BatchSize == insert.BatchSize);
            text.AppendLine(invariant,
                $"| {insert.Layout} | {insert.BatchSize} | {insert.RowsPerSecond:0} | {insert.RowsPerSecond / reference.RowsPerSecond:0.00} | {string.Join(", ", insert.RowsPerSecondPerRound.Select(rate => rate.ToString("0", invariant)))} | {insert.CommitP50Ms:0.00} | {insert.CommitP99Ms:0.00} | {insert.WalBytesPerRow:0} | {insert.WalBytesPerRow / reference.WalBytesPerRow:0.00} | {insert.PageImageBytesPerRow:0} |");
        }

        text.AppendLine()
            .AppendLine("## Size per row")
            .AppendLine()
            .AppendLine("| layout | rows | leaf partitions | heap B/row | indexes B/row | key b-tree B/row | BRIN B/row |")
            .AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var size in Sizes)
        {
            text.AppendLine(invariant, $"| {size.Layout} | {size.Rows:N0} | {size.LeafPartitions} | {size.HeapBytesPerRow:0.0} | {size.IndexBytesPerRow:0.0} | {size.KeyIndexBytesPerRow:0.0} | {size.BrinBytesPerRow:0.000} |");
        }

        text.AppendLine()
            .AppendLine("## Reads")
            .AppendLine()
            .AppendLine(invariant, $"| read | layout | samples | median ms | × {baseline} | p95 ms | plan (one run, EXPLAIN ANALYZE) |")
            .AppendLine("|---|---|---:|---:|---:|---:|---|");
        foreach (var read in Reads)
        {
            var reference = Reads.First(other => other.Read == read.Read && other.Layout == baseline);
            text.AppendLine(invariant,
                $"| {read.Read} | {read.Layout} | {read.Samples} | {read.MedianMs:0.000} | {(reference.MedianMs == 0 ? 0 : read.MedianMs / reference.MedianMs):0.00} | {read.P95Ms:0.000} | {read.Plan} |");
        }

        text.AppendLine();
        foreach (var read in Reads.Where(read => read.Layout == baseline))
        {
            text.AppendLine(invariant, $"- {read.Read}: {read.What}.");
        }

        text.AppendLine()
            .AppendLine("## Retention of the previous month")
            .AppendLine()
            .AppendLine("| layout | rows archived | archive read ms (key order) | drop_heartbeat_partition (schema/0015) | ms |")
            .AppendLine("|---|---:|---:|---|---:|");
        foreach (var step in Retention)
        {
            text.AppendLine(invariant, $"| {step.Layout} | {step.Rows:N0} | {step.ArchiveReadMs:0} | {(step.Dropped ? "detached and dropped, sub-partitions gone" : "NOT dropped")} | {step.DropMs:0.0} |");
        }

        return text.ToString();
    }
}
