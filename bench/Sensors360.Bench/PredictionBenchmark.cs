using System.Diagnostics;
using System.Net.Http.Json;
using Npgsql;
using Sensors360.Abstractions.Analytics;
using Sensors360.Grains.Analytics;
using Sensors360.Grains.Prediction;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>
/// The failure prediction over the analytics part's fleet, through the real server with its default settings
/// (horizon 168 h, presumed dead after a day, cut-offs over 180 days): the training the silo starts by itself after
/// a restart, then one asked for by <c>POST /api/analytics/at-risk/train</c> on an otherwise idle server, split into
/// phases by watching the server from outside (its heartbeat stream in pg_stat_activity, its "trained" log line),
/// with its memory; the stream read again in this process without features; and the heartbeat rate of a full-speed
/// load while a training runs, against the same load without one.
/// </summary>
internal sealed class PredictionBenchmark(ServerProcess server, string database)
{
    private const int HorizonHours = 168;
    private const string TrainPath = "/api/analytics/at-risk/train?horizonHours=168";
    private const string TrainedLine = "Failure model for";
    // The statement HeartbeatTimelineStore.ReadAsync streams the history with, for training and for ranking alike.
    private const string StreamMarker = "ORDER BY sensor_id, received_at";
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);
    private static readonly System.Text.Json.JsonSerializerOptions Json = new(System.Text.Json.JsonSerializerDefaults.Web);

    /// <summary>The server's environment for this part: the grain's "trained" line is the split between training and ranking.</summary>
    public static IReadOnlyDictionary<string, string?> Environment { get; } = new Dictionary<string, string?>
    {
        ["Logging__LogLevel__Sensors360.Grains.Prediction"] = "Information",
        // For /bench/gc only (the managed heap after a full collection); ingest goes through the real route.
        ["Sensors360__Bench__Enabled"] = "true",
    };

    /// <summary>
    /// Waits for the training the silo started when it became active (no model is stored yet), by asking for one:
    /// the request joins the one under way. Timed from the call, so a little shorter than the training.
    /// </summary>
    public async Task<FollowedTraining> AwaitStartupTrainingAsync(CancellationToken cancellationToken)
    {
        using var admin = await AdminAsync();
        return await TrainAndFollowAsync(admin, sample: null, cancellationToken);
    }

    public async Task<PredictionReport> RunAsync(FollowedTraining startup, CancellationToken cancellationToken)
    {
        using var admin = await AdminAsync();
        var meter = new ProcessMeter(server.ProcessId);

        Console.WriteLine("Prediction: one training on request, watched from outside...");
        var loadAverage = LoadAverage();
        var heapBefore = await HeapAsync(cancellationToken);
        var residentBefore = meter.ResidentBytes();
        meter.ResetPeak();
        var cpuBefore = meter.CpuSeconds();
        var watched = await WatchTrainingAsync(admin, meter, cancellationToken);
        var serverCpu = meter.CpuSeconds() - cpuBefore;
        var residentAfter = meter.ResidentBytes();
        var peak = meter.PeakResidentBytes();
        var heapAfter = await HeapAsync(cancellationToken);
        var ranking = await admin.GetFromJsonAsync<AtRiskReport>(new Uri($"/api/analytics/at-risk?horizonHours={HorizonHours}&limit=1", UriKind.Relative), cancellationToken)
            ?? throw new InvalidOperationException("GET /api/analytics/at-risk answered null.");
        Console.WriteLine($"  {watched.Seconds:0.0} s: {Describe(watched.Summary)}");

        Console.WriteLine("Prediction: the training's heartbeat stream again in this process, without features...");
        var stream = await StreamAloneAsync(cancellationToken);
        Console.WriteLine($"  {stream.Heartbeats:N0} heartbeats of {stream.Sensors:N0} sensors in {stream.Seconds:0.0} s");

        // Load runs as long as most of a training, so the rate during one covers its stream and its fitting alike.
        var loadRun = TimeSpan.FromSeconds(Math.Clamp(Math.Round(watched.Seconds * 0.8), 10, 60));
        Console.WriteLine($"Prediction: heartbeat rate at full speed without and with a training ({loadRun.TotalSeconds:0} s each)...");
        var ingest = await IngestDuringTrainingAsync(admin, loadRun, cancellationToken);

        return new PredictionReport(
            HorizonHours,
            loadAverage,
            new AnalyticsOptions().TrainOver.TotalDays,
            new AnalyticsOptions().PresumedDeadAfter.TotalHours,
            watched.Summary,
            ranking.LiveSensors,
            ranking.Sensors.Length > 0 ? ranking.Sensors[0].FailureProbability : null,
            startup.Seconds,
            startup.Request,
            watched.Seconds,
            watched.Request,
            watched.UntilStream,
            watched.Stream,
            watched.StreamBackendCpu,
            watched.Fitting,
            watched.Ranking,
            watched.RankingStream,
            Math.Round(serverCpu, 1),
            stream,
            residentBefore,
            residentAfter,
            peak,
            meter.PeakIsLifetime,
            watched.SampledPeak,
            heapBefore.ManagedBytes,
            heapAfter.ManagedBytes,
            heapAfter.ResidentBytes,
            ingest);
    }

    /// <summary>
    /// Trains on request and follows the server every <see cref="Poll"/>: when its heartbeat stream is active (before
    /// the "trained" line it feeds the training, after it the ranking), when the line appears, its resident memory.
    /// </summary>
    private async Task<WatchedTraining> WatchTrainingAsync(HttpClient admin, ProcessMeter meter, CancellationToken cancellationToken)
    {
        await using var watcher = new NpgsqlConnection(database);
        await watcher.OpenAsync(cancellationToken);
        await using var active = new NpgsqlCommand(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() AND query LIKE $1",
            watcher);
        active.Parameters.AddWithValue($"%{StreamMarker}%");
        var linesBefore = server.Output.Count;
        double? streamStart = null, streamEnd = null, trained = null, backendCpuStart = null, backendCpu = null;
        double? rankingStreamStart = null, rankingStreamEnd = null;
        ProcessMeter? backend = null;
        long sampledPeak = 0;

        async Task SampleAsync(double elapsed)
        {
            sampledPeak = Math.Max(sampledPeak, meter.ResidentBytes());
            trained ??= server.Output.Skip(linesBefore).Any(line => line.Contains(TrainedLine, StringComparison.Ordinal)) ? elapsed : null;
            if (rankingStreamEnd is not null)
            {
                return;
            }

            var pid = await active.ExecuteScalarAsync(cancellationToken) as int?;
            if (trained is null)
            {
                if (pid is { } streaming && streamStart is null)
                {
                    streamStart = elapsed;
                    backend = new ProcessMeter(streaming);
                    backendCpuStart = backend.CpuSeconds();
                }
                else if (pid is null && streamStart is not null && streamEnd is null)
                {
                    streamEnd = elapsed;
                    backendCpu = backend!.CpuSeconds() - backendCpuStart;
                }
            }
            else if (pid is not null)
            {
                rankingStreamStart ??= elapsed;
            }
            else if (rankingStreamStart is not null)
            {
                rankingStreamEnd = elapsed;
            }
        }

        var followed = await TrainAndFollowAsync(admin, SampleAsync, cancellationToken);
        return new WatchedTraining(
            followed.Summary,
            followed.Seconds,
            followed.Request,
            Round(streamStart),
            Round(streamEnd - streamStart),
            Round(backendCpu),
            Round(trained - streamEnd),
            Round(followed.Seconds - trained),
            Round(rankingStreamEnd - rankingStreamStart),
            sampledPeak);
    }

    /// <summary>
    /// Asks for a training and waits until the sensors are ranked with its model. The request may give up first
    /// (a grain call answers within Orleans' response timeout, 30 s, or fails with 503 while the grain trains on): then
    /// the ranking is followed through <c>GET /api/analytics/at-risk</c> until it rests on a model trained since the call.
    /// </summary>
    private async Task<FollowedTraining> TrainAndFollowAsync(HttpClient admin, Func<double, Task>? sample, CancellationToken cancellationToken)
    {
        var start = DateTimeOffset.UtcNow;
        var watch = Stopwatch.StartNew();
        var request = admin.PostAsync(new Uri(TrainPath, UriKind.Relative), null, cancellationToken);
        while (!request.IsCompleted)
        {
            await (sample?.Invoke(watch.Elapsed.TotalSeconds) ?? Task.CompletedTask);
            await Task.WhenAny(request, Task.Delay(Poll, cancellationToken));
        }

        using var response = await request;
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var answered = watch.Elapsed.TotalSeconds;
        if (response.IsSuccessStatusCode)
        {
            var summary = System.Text.Json.JsonSerializer.Deserialize<FailureModelSummary>(body, Json)
                ?? throw new InvalidOperationException($"POST {TrainPath} answered null.");
            return new FollowedTraining(summary, Math.Round(answered, 1), $"{(int)response.StatusCode}");
        }

        // Any other answer (no model for want of failures, a refused session) leaves nothing to follow.
        if (!body.Contains("Database unavailable", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"POST {TrainPath} answered {(int)response.StatusCode}: {body}\nThe server's last lines:\n{string.Join('\n', server.Output.TakeLast(30))}");
        }

        var outcome = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{(int)response.StatusCode} \"Database unavailable\" after {answered:0.0} s");
        Console.WriteLine($"  POST {TrainPath} answered {outcome}; following the ranking...");
        while (watch.Elapsed < TimeSpan.FromMinutes(10))
        {
            await (sample?.Invoke(watch.Elapsed.TotalSeconds) ?? Task.CompletedTask);
            using var ranking = await admin.GetAsync(new Uri($"/api/analytics/at-risk?horizonHours={HorizonHours}&limit=1", UriKind.Relative), cancellationToken);
            if (ranking.IsSuccessStatusCode
                && await ranking.Content.ReadFromJsonAsync<AtRiskReport>(cancellationToken) is { } report
                && report.Model.TrainedAt >= start && report.ScoredAt >= report.Model.TrainedAt)
            {
                return new FollowedTraining(report.Model, Math.Round(watch.Elapsed.TotalSeconds, 1), outcome);
            }

            await Task.Delay(Poll, cancellationToken);
        }

        throw new TimeoutException($"No ranking with a new model within 10 minutes of POST {TrainPath}.\nThe server's last lines:\n{string.Join('\n', server.Output.TakeLast(30))}");
    }

    /// <summary>
    /// The window the training streams (its first cut-off less the features' look-back to its last cut-off), read as
    /// the server reads it, with a visitor that only counts: what reading the heartbeats costs without the features.
    /// </summary>
    private async Task<StreamAlone> StreamAloneAsync(CancellationToken cancellationToken)
    {
        var settings = new AnalyticsOptions();
        await using var dataSource = NpgsqlDataSource.Create(database);
        var now = DateTimeOffset.UtcNow;
        var first = await FirstHeartbeatAsync(cancellationToken);
        var plan = FailureHorizon.Plan(TimeSpan.FromHours(HorizonHours), now, settings.PresumedDeadAfter, settings.TrainOver, first);
        var store = new HeartbeatTimelineStore(dataSource);
        // As many metrics as FailurePrediction takes trends of (three), so the statement reads the same columns.
        var metrics = await store.ChooseMetricsAsync(now - settings.TrainOver, 3, cancellationToken);
        long heartbeats = 0, sensors = 0;
        var watch = Stopwatch.StartNew();
        // At normal priority, unlike the server's training thread: this measures the read alone.
        await Task.Run(() => store.Read(
            DateTimeOffset.UnixEpoch.AddSeconds(plan.Cutoffs[0]) - RiskFeatures.Lookback,
            DateTimeOffset.UnixEpoch.AddSeconds(plan.Cutoffs[^1]),
            metrics,
            timeline =>
            {
                heartbeats += timeline.Count;
                sensors++;
            },
            cancellationToken), cancellationToken);
        return new StreamAlone(Math.Round(watch.Elapsed.TotalSeconds, 1), heartbeats, sensors, plan.Cutoffs.Length, metrics.Length);
    }

    /// <summary>
    /// The simulator's load at full speed (64 connections, 1,000 sensors of its own) without a training, during one,
    /// and without again; the ratio is the rate during over the mean of the two around it.
    /// </summary>
    private async Task<IngestDuringTraining> IngestDuringTrainingAsync(HttpClient admin, TimeSpan length, CancellationToken cancellationToken)
    {
        var work = Directory.CreateTempSubdirectory("sensors360-bench-prediction-");
        try
        {
            var load = new LoadDriver(server.BaseAddress, server.AdminPassword, Path.Combine(work.FullName, "sensors.json"), work.FullName);
            string[] common = ["--max", "--concurrency", "64", "--sensors", "1000", "--prefix", "ingest-"];
            string[] measured = [.. common, "--duration", $"{length.TotalSeconds:0}s"];
            // Provisions the load's sensors through the real routes and warms the heartbeat path.
            await load.RunAsync([.. common, "--duration", "10s"], cancellationToken);
            var before = await load.RunAsync(measured, cancellationToken);

            var training = TrainAndFollowAsync(admin, sample: null, cancellationToken);
            var during = await load.RunAsync(measured, cancellationToken);
            var outlasted = !training.IsCompleted;
            var trainingSeconds = (await training).Seconds;

            var after = await load.RunAsync(measured, cancellationToken);
            var idle = (before.SucceededRate + after.SucceededRate) / 2;
            Console.WriteLine($"  {before.SucceededRate:0}/s, during the training {during.SucceededRate:0}/s, after {after.SucceededRate:0}/s; the training took {trainingSeconds:0.0} s under load");
            return new IngestDuringTraining(
                length.TotalSeconds,
                Math.Round(before.SucceededRate),
                Math.Round(during.SucceededRate),
                Math.Round(after.SucceededRate),
                Math.Round(during.SucceededRate / idle, 3),
                before.P99Ms,
                during.P99Ms,
                after.P99Ms,
                trainingSeconds,
                outlasted);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>A session without the login client's 30-second timeout: a training answers after minutes.</summary>
    private async Task<HttpClient> AdminAsync()
    {
        var cookies = await server.LoginCookiesAsync();
        return new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = server.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
    }

    private async Task<Heap> HeapAsync(CancellationToken cancellationToken)
    {
        using var response = await server.Http.PostAsync(new Uri("/bench/gc", UriKind.Relative), null, cancellationToken);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<Heap>(cancellationToken))!;
    }

    private async Task<DateTimeOffset> FirstHeartbeatAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT min(first_heartbeat_at) FROM sensor", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return reader.GetFieldValue<DateTimeOffset>(0);
    }

    private static string Describe(FailureModelSummary model) =>
        $"trained on {model.TrainedOn:N0} examples, {model.TrainingFailures:N0} failures, validation AUC {model.ValidationAuc}, age alone {model.AgeOnlyAuc}";

    /// <summary>The machine's one-minute load average: others' builds share these two cores.</summary>
    private static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    private static double? Round(double? seconds) => seconds is { } value ? Math.Round(value, 1) : null;

    private sealed record Heap(long ManagedBytes, long ResidentBytes);

    private sealed record WatchedTraining(
        FailureModelSummary Summary, double Seconds, string Request, double? UntilStream, double? Stream, double? StreamBackendCpu, double? Fitting, double? Ranking, double? RankingStream, long SampledPeak);
}

/// <summary>A training from the request to the ranking with its model, and how the request itself answered.</summary>
internal sealed record FollowedTraining(FailureModelSummary Summary, double Seconds, string Request);

/// <summary>The training's heartbeat stream read in the benchmark process, counting only.</summary>
internal sealed record StreamAlone(double Seconds, long Heartbeats, long Sensors, int Cutoffs, int Metrics);

/// <summary>Heartbeats per second of the simulator's full-speed load around and during a training.</summary>
internal sealed record IngestDuringTraining(
    double SecondsPerRun,
    double RateBefore, double RateDuring, double RateAfter, double Ratio, double P99BeforeMs, double P99DuringMs, double P99AfterMs,
    double TrainingUnderLoadSeconds, bool TrainingOutlastedLoad);

/// <summary>What the prediction measurement found, part of bench/results/analytics.json and analytics.md.</summary>
internal sealed record PredictionReport(
    int HorizonHours,
    double LoadAverage,
    double TrainOverDays,
    double PresumedDeadAfterHours,
    FailureModelSummary Model,
    int LiveSensors,
    double? HighestProbability,
    double StartupTrainingSeconds,
    string StartupRequest,
    double TrainRequestSeconds,
    string TrainRequest,
    double? UntilStreamSeconds,
    double? StreamWithFeaturesSeconds,
    double? StreamBackendCpuSeconds,
    double? FittingSeconds,
    double? RankingSeconds,
    double? RankingStreamSeconds,
    double ServerCpuSeconds,
    StreamAlone StreamAlone,
    long ResidentBytesBefore,
    long ResidentBytesAfter,
    long PeakResidentBytes,
    bool PeakCoversWholeLife,
    long SampledPeakResidentBytes,
    long ManagedBytesBefore,
    long ManagedBytesAfter,
    long ResidentBytesAfterCollection,
    IngestDuringTraining Ingest);
