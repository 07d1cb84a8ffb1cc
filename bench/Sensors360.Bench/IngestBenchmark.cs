using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>
/// Settings of one benchmark run. <paramref name="Wrk"/>: the wrk executable for the closed-loop runs (null: the
/// simulator's load mode runs them); <paramref name="FeedSockets"/>: dashboard sockets of the live-feed step;
/// <paramref name="Rounds"/>: interleaved rounds of the peak runs, each measuring every target once, and as many rounds of the p99 step.
/// </summary>
internal sealed record BenchSettings(
    TimeSpan RunLength, TimeSpan WarmUp, int Concurrency, int Sensors, int ActiveSensors, string ResultsDirectory, string? Wrk, int FeedSockets, int Rounds);

/// <summary>
/// The ingest benchmark: noop, grain, naive and sensors360 side by side against one server, a bare Kestrel and a bare
/// durable ingest beside it, in interleaved rounds whose medians the ratios are, then p99 at 70% of the sensors360 peak in rounds (each at 70% of a peak run right before it), the ingest peak with and without many dashboard sockets, then memory
/// per active sensor grain. Ratios, not absolute numbers, are what to compare: the machine is shared and noisy.
/// </summary>
internal sealed class IngestBenchmark(BenchSettings settings)
{
    private const string LoadPrefix = "load-";

    // The real heartbeat route, as every step that drives it names it.
    private const string HeartbeatRoute = "/api/sensors/{id}/heartbeat";

    // The feed step's quiet measurement: enough heartbeats that the fleet's numbers change every tick, few enough to cost little.
    private const int QuietHeartbeatsPerSecond = 100;

    // How long the trickle runs before (and after) the quiet measurement's window.
    private static readonly TimeSpan QuietSettle = TimeSpan.FromSeconds(3);

    public async Task<BenchReport> RunAsync(CancellationToken cancellationToken)
    {
        var work = Directory.CreateTempSubdirectory("sensors360-bench-");
        try
        {
            Console.WriteLine("Starting a durable private PostgreSQL and the server...");
            await using var postgres = await ThrowawayPostgres.StartAsync(durable: true);
            var database = await postgres.CreateDatabaseAsync("bench");
            await using var server = StartServer(database);
            await server.WaitUntilReadyAsync();
            var meter = new ProcessMeter(server.ProcessId);
            var load = new LoadDriver(server.BaseAddress, server.AdminPassword, Path.Combine(work.FullName, "sensors.json"), work.FullName);
            string[] common = ["--max", "--concurrency", Text(settings.Concurrency), "--sensors", Text(settings.Sensors), "--prefix", LoadPrefix];

            // Provisions the sensors (and warms everything up) through the real route first. With an hour's threshold: the
            // rounds leave them without a stored heartbeat for minutes (the bare and no-op runs), and at the simulator's
            // 60 s they went silent between rounds, so each sensors360 run began by resolving 1,000 alerts and writing
            // their reminders again, and the later steps started with an alert storm: not the steady state measured.
            await load.RunAsync([.. common, "--threshold", "3600", "--duration", Seconds(settings.WarmUp)], cancellationToken);

            var sensors = ProvisionedSensors(Path.Combine(work.FullName, "sensors.json"));
            var wrk = settings.Wrk is { } executable ? new WrkDriver(executable, work.FullName, threads: 2, settings.Concurrency) : null;
            Console.WriteLine(wrk is null ? "Client: the simulator's load mode." : $"Client: {settings.Wrk} (-t2 -c{settings.Concurrency}), sensors round-robin.");

            // One closed-loop run of a route at its peak, with whichever client this run uses.
            Task<LoadNumbers> PeakAsync(Uri target, string path, bool auth, TimeSpan length) => wrk is null
                ? load.RunAsync([.. common, "--url-path", path, .. auth ? Array.Empty<string>() : ["--no-auth"], "--duration", Seconds(length)], cancellationToken, target)
                : wrk.RunAsync(target, path, auth, sensors, length, cancellationToken);

            var peaks = await MeasurePeaksAsync(server, database, meter, PeakAsync, cancellationToken);
            var runs = peaks.Runs;

            await PrintTopStatementsAsync(database, cancellationToken);

            var steadyRounds = await MeasureSteadyRoundsAsync(server, database, meter, sensors, PeakAsync, cancellationToken);

            // A trickle of heartbeats, so the fleet's numbers change and every tick has a new snapshot to send.
            Task<LoadNumbers> TrickleAsync(TimeSpan length) => load.RunAsync(
                ["--rate", Text(QuietHeartbeatsPerSecond), "--concurrency", "8", "--sensors", Text(settings.Sensors), "--prefix", LoadPrefix, "--duration", Seconds(length)],
                cancellationToken);
            var feed = await MeasureFeedCostAsync(server, PeakAsync, TrickleAsync, cancellationToken);

            Console.WriteLine($"Measuring memory with {settings.ActiveSensors:N0} active sensors, each kind in a server of its own...");
            // Grains that only loaded their record (a refused token leaves them active but not online), then online
            // sensors: the difference is what watching costs. Each in a fresh server on a fresh database, so neither the
            // runs' garbage nor the other kind's grains (which Orleans may collect meanwhile) sit in its baseline.
            try
            {
                // Stopped so it takes no CPU or memory beside the memory step's servers.
                await server.StopAsync();
            }
            catch (TimeoutException)
            {
                // It was killed instead; nothing of it is measured any more.
            }

            var (loadedBytes, _) = await MeasureMemoryInFreshServerAsync(postgres, "idle-", online: false, cancellationToken);
            var (bytes, managed) = await MeasureMemoryInFreshServerAsync(postgres, "mem-", online: true, cancellationToken);

            return new BenchReport(
                DateTimeOffset.UtcNow,
                await MachineFacts.ReadAsync(database),
                settings.Concurrency,
                settings.RunLength.TotalSeconds,
                settings.Sensors,
                runs,
                BenchRound.MedianRatios(peaks.Rounds),
                steadyRounds,
                settings.ActiveSensors,
                Math.Round(bytes),
                Math.Round(managed),
                Math.Round(loadedBytes),
                meter.PeakIsLifetime,
                peaks.Reminders,
                feed,
                wrk is null ? "simulator load --max" : $"wrk -t2 -c{settings.Concurrency}",
                peaks.Rounds);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// p99 at 70% of the route's peak in <see cref="BenchSettings.Rounds"/> rounds: each a closed-loop peak run of the
    /// route (after its warm-up) and right after it, at 70% of that run's rate, open loop, a warm-up and the measured
    /// requests from the bench's lean client (<see cref="OpenLoopHeartbeats"/>: wrk cannot hold a rate, and the simulator's
    /// HttpClient could not keep its schedule on the cores it shares with the server). The rate comes from the run next
    /// to it, so it is 70% of what the machine gave the route in the same minute (docs/performance.md, the sixteenth pass).
    /// </summary>
    private async Task<IReadOnlyList<SteadyRound>> MeasureSteadyRoundsAsync(
        ServerProcess server, string database, ProcessMeter meter, IReadOnlyList<LoadSensor> sensors,
        Func<Uri, string, bool, TimeSpan, Task<LoadNumbers>> peakAsync, CancellationToken cancellationToken)
    {
        var clientMeter = new ProcessMeter(Environment.ProcessId);
        var rounds = new List<SteadyRound>();
        for (var round = 1; round <= settings.Rounds; round++)
        {
            Console.WriteLine($"p99 round {round} of {settings.Rounds}: the sensors360 peak, then 70% of it...");
            await peakAsync(server.BaseAddress, HeartbeatRoute, true, settings.WarmUp);
            var peak = await peakAsync(server.BaseAddress, HeartbeatRoute, true, settings.RunLength);
            var rate = Math.Round(peak.SucceededRate * 0.7);
            Console.WriteLine($"  peak {peak.SucceededRate:0}/s; at {rate}/s, open loop, after {settings.WarmUp.TotalSeconds:0} s at that rate...");
            // The warm-up runs on the connections the measured requests use: without it, the first half second (a server
            // going from idle to the rate on a thousand fresh connections) set the p99 (docs/performance.md).
            var measuring = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var steadyRun = OpenLoopHeartbeats.RunAsync(
                server.BaseAddress, HeartbeatRoute, sensors, rate, settings.WarmUp, settings.RunLength,
                // One request in flight a connection, room for 100 ms of them: twice the goal, so a request can wait for a
                // free connection only in a run that misses anyway.
                connections: (int)Math.Ceiling(rate / 10), measuring, cancellationToken);
            // The server's counters are read just before the measured requests begin.
            if (await Task.WhenAny(measuring.Task, steadyRun) == steadyRun)
            {
                // It failed, or gave up before the measured requests (each then an error): a failure is thrown here.
                await steadyRun;
            }

            var durationsBefore = await RouteDurations.ReadAsync(server.Http, HeartbeatRoute, 204, cancellationToken);
            var upkeepBefore = await DatabaseActivity.ReadAsync(database);
            var (serverCpuBefore, clientCpuBefore, steadyStarted) = (meter.CpuSeconds(), clientMeter.CpuSeconds(), Stopwatch.GetTimestamp());
            var steady = await steadyRun;
            var steadySeconds = Stopwatch.GetElapsedTime(steadyStarted).TotalSeconds;
            var (serverCores, clientCores) = ((meter.CpuSeconds() - serverCpuBefore) / steadySeconds, (clientMeter.CpuSeconds() - clientCpuBefore) / steadySeconds);
            var serverDurations = (await RouteDurations.ReadAsync(server.Http, HeartbeatRoute, 204, cancellationToken)).Since(durationsBefore);
            Console.WriteLine($"  p99 {steady.P99Ms:0.00} ms, {steady.SucceededRate:0}/s, {steady.Errors} errors; " +
                $"the server's own account: {serverDurations.ShareWithin(0.05):P2} of {serverDurations.Count:N0} answered within 50 ms, p99 ≤ {serverDurations.BoundOf(0.99) * 1000:0} ms; " +
                $"the client's: send to answer p99 {steady.ServiceP99Ms:0.00} ms, worst send {steady.MaxLagMs:0.00} ms behind schedule; " +
                $"server {serverCores:0.00} cores, client {clientCores:0.00} cores");
            PrintUpkeep((await DatabaseActivity.ReadAsync(database)).Since(upkeepBefore), "  ");
            rounds.Add(new SteadyRound(
                round, Math.Round(peak.SucceededRate), rate, steady.P99Ms,
                new ServerLatency(serverDurations.Count, Math.Round(serverDurations.ShareWithin(0.05), 4), serverDurations.BoundOf(0.99) * 1000),
                new ClientLatency(steady.ServiceP99Ms ?? double.NaN, steady.MaxLagMs ?? double.NaN, steady.Errors),
                Math.Round(serverCores, 2), Math.Round(clientCores, 2)));
        }

        return rounds;
    }

    /// <summary>What the peak phase measured: per target the medians over the rounds, every round, and the reminder writes of every sensors360 run.</summary>
    private sealed record Peaks(IReadOnlyList<BenchRun> Runs, IReadOnlyList<BenchRound> Rounds, ReminderWrites Reminders);

    /// <summary>One target of the peak phase: a route of the server, or a bare reference in its own process.</summary>
    private sealed record PeakTarget(string Name, string Path, bool Auth, Uri BaseAddress, ProcessMeter Meter, bool InServer);

    /// <summary>
    /// The peaks of noop, grain, naive, sensors360 and the two bare references in <see cref="BenchSettings.Rounds"/>
    /// interleaved rounds: both references run for the whole phase, so every round measures every target within the
    /// same minutes and each round's ratios compare runs that shared the machine's weather; the report takes medians.
    /// </summary>
    private async Task<Peaks> MeasurePeaksAsync(
        ServerProcess server, string database, ProcessMeter serverMeter, Func<Uri, string, bool, TimeSpan, Task<LoadNumbers>> peakAsync,
        CancellationToken cancellationToken)
    {
        Console.WriteLine("Starting the bare references: Sensors360.BareKestrel (one handler answering 204) and Sensors360.BareIngest (a grain call and a group-committed insert)...");
        await using var bareKestrel = BareKestrel.Start();
        await using var bareIngest = BareKestrel.StartIngest(database);
        await bareKestrel.WaitUntilReadyAsync(cancellationToken);
        await bareIngest.WaitUntilReadyAsync(cancellationToken);

        PeakTarget[] targets =
        [
            new("noop", "/bench/noop/{id}", false, server.BaseAddress, serverMeter, true),
            new("grain", "/bench/grain/{id}", true, server.BaseAddress, serverMeter, true),
            new("naive", "/bench/naive/{id}", false, server.BaseAddress, serverMeter, true),
            new("sensors360", HeartbeatRoute, true, server.BaseAddress, serverMeter, true),
            new("bare-kestrel", "/bench/noop/{id}", false, bareKestrel.BaseAddress, new ProcessMeter(bareKestrel.ProcessId), false),
            new("bare-ingest", "/bare/{id}", false, bareIngest.BaseAddress, new ProcessMeter(bareIngest.ProcessId), false),
        ];

        // A target left out of the chain would otherwise fail the ratios only after a whole round.
        if (!RoundOrder(0).Order().SequenceEqual(targets.Select(target => target.Name).Order()))
        {
            throw new InvalidOperationException("The round order must name every peak target once.");
        }

        var phase = Stopwatch.StartNew();
        var rounds = new List<BenchRound>();
        var reminderWrites = 0L;
        var heartbeatsStored = 0L;
        for (var round = 0; round < settings.Rounds; round++)
        {
            var order = RoundOrder(round).Select(name => targets.Single(target => target.Name == name)).ToList();
            Console.WriteLine($"Round {round + 1} of {settings.Rounds}: {string.Join(", ", order.Select(target => target.Name))}");
            var runs = new List<BenchRun>();
            foreach (var target in order)
            {
                var (run, activity) = await MeasurePeakAsync(target, database, server, peakAsync, cancellationToken);
                runs.Add(run);
                if (target.Name == "sensors360" && activity is not null)
                {
                    // Every sensor of the load is online since the warm-up: what the reminder table takes now is per steady heartbeat.
                    reminderWrites += activity.Value.ReminderWrites;
                    heartbeatsStored += activity.Value.Heartbeats;
                }
            }

            var byName = runs.OrderBy(run => Array.FindIndex(targets, target => target.Name == run.Name)).ToList();
            rounds.Add(new BenchRound(round + 1, [.. order.Select(target => target.Name)], byName, BenchRound.RatiosOf(byName)));
            Console.WriteLine("  ratios: " + string.Join(", ", rounds[^1].Ratios.Select(pair => string.Create(CultureInfo.InvariantCulture, $"{pair.Key} {pair.Value:0.00}"))));
        }

        // What the rounds cost beyond their warm-ups and runs (the counters read around each run, the clients' start), for sizing them.
        var loaded = settings.Rounds * targets.Length * (settings.WarmUp + settings.RunLength).TotalSeconds;
        Console.WriteLine($"  the rounds ({settings.Rounds}) took {phase.Elapsed.TotalSeconds:0} s, {loaded:0} s of it warm-ups and runs");
        var medians = targets.Select(target => BenchRound.MedianRun(target.Name, rounds)).ToList();
        return new Peaks(medians, rounds, new ReminderWrites(reminderWrites, heartbeatsStored));
    }

    /// <summary>
    /// A chain of the targets in which each goal's two runs are neighbours (bare Kestrel and <c>noop</c>, <c>noop</c>
    /// and the route, the route and <c>naive</c>), so its ratio compares runs under a minute apart (docs/performance.md,
    /// the thirteenth pass).
    /// </summary>
    private static readonly string[] Chain = ["grain", "naive", "sensors360", "noop", "bare-kestrel", "bare-ingest"];

    /// <summary>The targets' names in the order of one round: the chain, walked backwards every other round, so neither run of a pair always goes first.</summary>
    internal static string[] RoundOrder(int round) => round % 2 == 0 ? [.. Chain] : [.. Enumerable.Reverse(Chain)];

    /// <summary>One target's warm-up and then its measured run, with the server's write counters for a route of the server.</summary>
    private async Task<(BenchRun Run, (long ReminderWrites, long Heartbeats)? Activity)> MeasurePeakAsync(
        PeakTarget target, string database, ServerProcess server, Func<Uri, string, bool, TimeSpan, Task<LoadNumbers>> peakAsync,
        CancellationToken cancellationToken)
    {
        Console.WriteLine($"  measuring {target.Name} ({(target.InServer ? target.Path : "separate process")})...");
        await peakAsync(target.BaseAddress, target.Path, target.Auth, settings.WarmUp);
        if (!target.InServer)
        {
            // The bare ingest writes into the same database, so its runs see the same upkeep the route's do.
            var bareUpkeepBefore = await DatabaseActivity.ReadAsync(database);
            target.Meter.ResetPeak();
            var bareCpuBefore = target.Meter.CpuSeconds();
            var bare = await peakAsync(target.BaseAddress, target.Path, target.Auth, settings.RunLength);
            PrintUpkeep((await DatabaseActivity.ReadAsync(database)).Since(bareUpkeepBefore), "    ");
            Console.WriteLine($"    {bare.SucceededRate:0}/s, p99 {bare.P99Ms:0.00} ms, {bare.Errors} errors");
            return (new BenchRun(target.Name, "(separate process)", bare.SucceededRate, bare.P50Ms, bare.P99Ms, bare.P999Ms, bare.Errors,
                Math.Round((target.Meter.CpuSeconds() - bareCpuBefore) / bare.ElapsedSeconds, 2), target.Meter.PeakResidentBytes(), null), null);
        }

        var rowsBefore = await CountHeartbeatsAsync(database);
        var databaseBefore = await DatabaseActivity.ReadAsync(database);
        var writerBefore = await HeapAsync(server, cancellationToken);
        target.Meter.ResetPeak();
        var cpuBefore = target.Meter.CpuSeconds();
        var numbers = await peakAsync(target.BaseAddress, target.Path, target.Auth, settings.RunLength);
        var cpu = (target.Meter.CpuSeconds() - cpuBefore) / numbers.ElapsedSeconds;
        var rows = await CountHeartbeatsAsync(database) - rowsBefore;
        var activity = (await DatabaseActivity.ReadAsync(database)).Since(databaseBefore);
        var writer = await HeapAsync(server, cancellationToken);
        var batches = writer.HeartbeatBatches - writerBefore.HeartbeatBatches;
        if (batches > 0)
        {
            Console.WriteLine($"    writer: {batches / numbers.ElapsedSeconds:0} batches/s, {(writer.HeartbeatsStored - writerBefore.HeartbeatsStored) / (double)batches:0.0} heartbeats per batch");
        }

        if (activity.Commits > 0)
        {
            Console.WriteLine($"    database: {activity.Commits / numbers.ElapsedSeconds:0} commits/s, {rows / (double)activity.Commits:0.0} heartbeats per commit, " +
                $"sensor updates {activity.SensorUpdates} ({activity.SensorHotUpdates * 100.0 / Math.Max(1, activity.SensorUpdates):0}% HOT), reminder writes {activity.ReminderWrites}");
        }

        PrintUpkeep(activity, "    ");

        Console.WriteLine($"    {numbers.SucceededRate:0}/s, p99 {numbers.P99Ms:0.00} ms, {numbers.Errors} errors");
        // Per stored heartbeat: the sensor row updates (the checkpoint's, a few per sensor a minute) and the reminder
        // writes (none once every sensor is online) the run caused.
        var run = new BenchRun(target.Name, target.Path, numbers.SucceededRate, numbers.P50Ms, numbers.P99Ms, numbers.P999Ms, numbers.Errors,
            Math.Round(cpu, 2), target.Meter.PeakResidentBytes(), rows > 0 ? Math.Round(rows / numbers.ElapsedSeconds, 1) : null,
            rows > 0 ? Math.Round(activity.SensorUpdates / (double)rows, 4) : null,
            rows > 0 ? Math.Round(activity.ReminderWrites / (double)rows, 4) : null);
        return (run, (activity.ReminderWrites, rows));
    }

    /// <summary>
    /// The live feed's cost: the sensors360 peak without and with <see cref="BenchSettings.FeedSockets"/> dashboard sockets
    /// open, in rounds whose two runs are neighbours (<see cref="FeedRoundOrder"/>, <see cref="FeedRounds"/>), each socket reading every snapshot
    /// the server sends it (at most one a second); how many snapshots a socket actually got per second and how big they
    /// were, and the CPU the server and this process (the sockets' client, on the same cores) used in each run. Then the
    /// same apart from contention: the server's CPU at a trickle of heartbeats with the sockets open, against the mean of
    /// the same before they first open and after they last close, per snapshot sent.
    /// </summary>
    private async Task<FeedCost> MeasureFeedCostAsync(
        ServerProcess server, Func<Uri, string, bool, TimeSpan, Task<LoadNumbers>> peak, Func<TimeSpan, Task<LoadNumbers>> trickle, CancellationToken cancellationToken)
    {
        var serverMeter = new ProcessMeter(server.ProcessId);
        var clientMeter = new ProcessMeter(Environment.ProcessId);

        // One run at the peak after its warm-up, as every peak run: its rate and the server's and the client's CPU in cores,
        // and with the sockets open, the snapshots a socket received a second and their size, counted over the run only.
        async Task<(FeedRun Run, double PerSocket, double BytesPerSnapshot)> MeteredPeakAsync(string name, FeedSockets? sockets)
        {
            await peak(server.BaseAddress, HeartbeatRoute, true, settings.WarmUp);
            Console.WriteLine($"Measuring sensors360 {name}...");
            var tallyBefore = sockets is null ? null : await sockets.NextTallyAsync(cancellationToken);
            var (serverBefore, clientBefore) = (serverMeter.CpuSeconds(), clientMeter.CpuSeconds());
            var numbers = await peak(server.BaseAddress, HeartbeatRoute, true, settings.RunLength);
            var run = new FeedRun(Math.Round(numbers.SucceededRate), Math.Round((serverMeter.CpuSeconds() - serverBefore) / numbers.ElapsedSeconds, 2),
                Math.Round((clientMeter.CpuSeconds() - clientBefore) / numbers.ElapsedSeconds, 2));
            Console.WriteLine($"  {run.PerSecond:0}/s (p50 {numbers.P50Ms:0.0} ms, p99 {numbers.P99Ms:0.0} ms), server {run.ServerCores:0.00} cores, bench client {run.ClientCores:0.00} cores");
            if (sockets is null)
            {
                return (run, 0, 0);
            }

            var tallyAfter = await sockets.NextTallyAsync(cancellationToken);
            return (run, tallyAfter.PerSocketPerSecondSince(tallyBefore!, sockets.Count), tallyAfter.BytesPerSnapshotSince(tallyBefore!));
        }

        // The fleet's open alerts, as the sockets would list them: the with-runs must start with as many as the without-runs.
        using var viewer = await server.LoginAsync();
        async Task<int> OpenAlertsAsync() =>
            (await viewer.GetFromJsonAsync<System.Text.Json.JsonElement>(new Uri("/api/fleet", UriKind.Relative), cancellationToken)).GetProperty("openAlerts").GetInt32();

        // The server's CPU at a trickle of heartbeats, the machine otherwise quiet: with the sockets open against
        // without, per snapshot sent, it is what the feed costs the server itself, apart from the shared cores' contention.
        // The window starts once the trickle flows (the simulator's start and login are outside it) and, with sockets,
        // at the end of a walk over them, so the CPU and the snapshots counted cover the same span.
        async Task<(double ServerCores, double SnapshotsPerSecond)> QuietAsync(FeedSockets? sockets)
        {
            // One end of the window: with sockets, when a walk over them ends; the server's CPU read right then.
            async Task<(SnapshotTally? Tally, double Cpu, long At)> MarkAsync()
            {
                var tally = sockets is null ? null : await sockets.NextTallyAsync(cancellationToken);
                return (tally, serverMeter.CpuSeconds(), tally?.Timestamp ?? Stopwatch.GetTimestamp());
            }

            var trickling = trickle(settings.RunLength + (2 * QuietSettle));
            await Task.Delay(QuietSettle, cancellationToken);
            var start = await MarkAsync();
            await Task.Delay(settings.RunLength, cancellationToken);
            var end = await MarkAsync();
            var numbers = await trickling;
            if (numbers.Errors > 0)
            {
                Console.WriteLine($"  the trickle had {numbers.Errors} failed heartbeats");
            }

            var seconds = Stopwatch.GetElapsedTime(start.At, end.At).TotalSeconds;
            return ((end.Cpu - start.Cpu) / seconds, sockets is null ? 0 : end.Tally!.PerSocketPerSecondSince(start.Tally!, sockets.Count) * sockets.Count);
        }

        var openAlerts = await OpenAlertsAsync();
        var (quietBefore, _) = await QuietAsync(null);
        Console.WriteLine($"  at {QuietHeartbeatsPerSecond} heartbeats a second: server {quietBefore:0.000} cores");
        Console.WriteLine($"Logging in the sessions for {settings.FeedSockets:N0} dashboard sockets...");
        var loggingIn = Stopwatch.StartNew();
        var sessions = await FeedSockets.LoginAsync(server.BaseAddress, server.AdminPassword, settings.FeedSockets, cancellationToken);
        Console.WriteLine($"  {sessions.Count} sessions logged in after {loggingIn.Elapsed.TotalSeconds:0} s");

        // Opens the sockets and waits until they receive nothing but snapshots.
        async Task<FeedSockets> OpenAsync()
        {
            var opening = Stopwatch.StartNew();
            var sockets = await FeedSockets.OpenAsync(server.BaseAddress, sessions, settings.FeedSockets, cancellationToken);
            try
            {
                await sockets.WaitForFirstSnapshotsAsync(TimeSpan.FromMinutes(2), cancellationToken);
                Console.WriteLine($"  {sockets.Count:N0} sockets open after {opening.Elapsed.TotalSeconds:0} s; a snapshot: {sockets.SampleSnapshot}");
                // Should the load's sensors have gone silent meanwhile, their alerts would fill every snapshot's list and send
                // each socket an alert frame per sensor twice (raised, resolved), a storm rather than the steady feed this
                // step measures. So the load runs until they are online again and every socket has received the frames that caused.
                for (var round = 0; round == 0 || (await OpenAlertsAsync() > openAlerts && round < 10); round++)
                {
                    await peak(server.BaseAddress, HeartbeatRoute, true, settings.WarmUp);
                }

                await sockets.WaitUntilOnlySnapshotsArriveAsync(TimeSpan.FromMinutes(5), cancellationToken);
                Console.WriteLine($"  open alerts {await OpenAlertsAsync()} (before the sockets: {openAlerts}); every socket received {sockets.Messages / (double)sockets.Count:0} messages so far");
                return sockets;
            }
            catch
            {
                await sockets.DisposeAsync();
                throw;
            }
        }

        // Closes the sockets and waits until the server has let them all go: thousands closing at once keep it busy for a
        // while, and a session's next sockets are refused until its last ones are released. Returns the sockets that broke.
        async Task<long> CloseAsync(FeedSockets sockets)
        {
            await sockets.DisposeAsync();
            var closing = Stopwatch.StartNew();
            using var probe = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
            while (true)
            {
                try
                {
                    // A scrape without the gauge throws at once: waiting would not bring it.
                    if ((await MetricsScrape.ReadAsync(probe, cancellationToken)).Sum(DashboardSocketsGauge) == 0)
                    {
                        break;
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    // Still busy with the closes, or a probe timed out: look again.
                }

                if (closing.Elapsed > TimeSpan.FromMinutes(10))
                {
                    throw new TimeoutException("The server still held dashboard sockets 10 minutes after they closed.");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
            }

            Console.WriteLine($"  sockets closed; the server had let them all go after {closing.Elapsed.TotalSeconds:0} s");
            return sockets.Broken;
        }

        var rounds = new List<FeedRound>();
        FeedSockets? open = null;
        var broken = 0L;
        double quietWith, quietSnapshots;
        SocketMemory memory;
        try
        {
            for (var round = 0; round < FeedRounds(settings.Rounds); round++)
            {
                var runs = new Dictionary<bool, FeedRun>();
                var (perSocket, bytesPerSnapshot) = (0.0, 0.0);
                foreach (var withSockets in FeedRoundOrder(round))
                {
                    if (withSockets)
                    {
                        open ??= await OpenAsync();
                        (runs[true], perSocket, bytesPerSnapshot) = await MeteredPeakAsync($"with {open.Count:N0} sockets open (round {round + 1})", open);
                    }
                    else
                    {
                        if (open is { } closing)
                        {
                            open = null;
                            broken += await CloseAsync(closing);
                        }

                        (runs[false], _, _) = await MeteredPeakAsync($"without dashboard sockets (round {round + 1})", null);
                    }
                }

                var feedRound = new FeedRound(round + 1, FeedRoundOrder(round)[0], runs[false], runs[true], Math.Round(perSocket, 2), Math.Round(bytesPerSnapshot));
                Console.WriteLine($"  round {feedRound.Round}: with ÷ without {feedRound.Ratio:0.000}, {feedRound.SnapshotsPerSocketPerSecond:0.00} snapshots a socket a second of {feedRound.BytesPerSnapshot:0} bytes");
                rounds.Add(feedRound);
            }

            // The server's memory for the sockets, each reading after a full collection: with them open (quiet) against the
            // mean of right before they open this last time and right after they close, so what the rounds before grew
            // (pools, caches) is on both sides. The rounds are even, so the last one ended with the sockets closed.
            if (open is not null)
            {
                throw new InvalidOperationException("The feed rounds ended with the sockets open; the memory baseline needs them closed.");
            }

            var heapBefore = await HeapAsync(server, cancellationToken);
            open = await OpenAsync();
            (quietWith, quietSnapshots) = await QuietAsync(open);
            Console.WriteLine($"  at {QuietHeartbeatsPerSecond} heartbeats a second: server {quietWith:0.000} cores for {quietSnapshots:0} snapshots a second");
            var heapWith = await HeapAsync(server, cancellationToken);
            var last = open;
            open = null;
            broken += await CloseAsync(last);
            var heapAfter = await HeapAsync(server, cancellationToken);
            double PerSocket(Func<Heap, long> bytes) => Math.Round((bytes(heapWith) - ((bytes(heapBefore) + bytes(heapAfter)) / 2.0)) / last.Count);
            memory = new SocketMemory(PerSocket(heap => heap.ManagedBytes), PerSocket(heap => heap.ResidentBytes));
            Console.WriteLine($"  the server's memory per open socket: {memory.ManagedBytes:0} bytes managed heap, {memory.ResidentBytes:0} bytes RSS " +
                $"(managed {heapBefore.ManagedBytes / 1048576.0:0} MiB before they opened, {heapWith.ManagedBytes / 1048576.0:0} MiB with them, {heapAfter.ManagedBytes / 1048576.0:0} MiB after they closed)");
        }
        catch when (open is not null)
        {
            // Only closed: waiting for the server to let them go would hide the failure behind a timeout if it is down.
            await open.DisposeAsync();
            throw;
        }

        var (quietAfter, _) = await QuietAsync(null);
        var cost = new FeedCost(settings.FeedSockets, rounds, broken, Math.Round(quietBefore, 3), Math.Round(quietAfter, 3), Math.Round(quietWith, 3), Math.Round(quietSnapshots), memory);
        Console.WriteLine($"  at {QuietHeartbeatsPerSecond} heartbeats a second: server {quietAfter:0.000} cores; " +
            $"the sockets cost the server {cost.ServerMicrosecondsPerSnapshot:0.0} µs of CPU a snapshot; with ÷ without over the rounds {cost.Ratio:0.000}");
        return cost;
    }

    /// <summary>
    /// Whether each run of a feed round has the sockets open, in order: one run without and one with, the one that ended
    /// the last round first, so the sockets open or close once a round, between its two runs, and neither run always goes first.
    /// </summary>
    internal static bool[] FeedRoundOrder(int round) => round % 2 == 0 ? [false, true] : [true, false];

    /// <summary>
    /// The feed step's rounds: the peaks' count rounded up to an even number, so the run right after the sockets open
    /// (a with-run) and the run right after they close (a without-run) come as often as each other.
    /// </summary>
    internal static int FeedRounds(int peakRounds) => peakRounds + (peakRounds % 2);

    private const string DashboardSocketsGauge = "sensors360_dashboard_sockets";

    /// <summary>The sensors the simulator provisioned in the warm-up, with their tokens, from its state file.</summary>
    private static List<LoadSensor> ProvisionedSensors(string stateFile)
    {
        using var state = System.Text.Json.JsonDocument.Parse(File.ReadAllText(stateFile));
        return [.. state.RootElement.GetProperty("sensors").EnumerateArray()
            .Where(sensor => sensor.GetProperty("id").GetString()!.StartsWith(LoadPrefix, StringComparison.Ordinal))
            .Select(sensor => new LoadSensor(sensor.GetProperty("id").GetString()!, sensor.GetProperty("token").GetString()!))];
    }

    private static ServerProcess StartServer(string database) => ServerProcess.Start(database, "bench", new Dictionary<string, string?>
    {
        ["Sensors360__Bench__Enabled"] = "true",
        // The load drives each sensor far faster than a real one: the limiter runs (and costs what it costs) but never refuses.
        ["Sensors360__Ingest__MaxHeartbeatsPerSecond"] = "1000000",
        // The memory step's wrong-token heartbeats all come from this one address: refused, they must still reach the grains.
        ["Sensors360__Ingest__MaxRefusedHeartbeatsPerMinute"] = "1000000",
        ["Logging__LogLevel__Default"] = "Warning",
    });

    private async Task<(double Resident, double Managed)> MeasureMemoryInFreshServerAsync(
        ThrowawayPostgres postgres, string prefix, bool online, CancellationToken cancellationToken)
    {
        var database = await postgres.CreateDatabaseAsync("bench-" + prefix.TrimEnd('-'));
        await using var server = StartServer(database);
        await server.WaitUntilReadyAsync();
        // A few first, so the code paths are compiled and the pools grown before the baseline is taken.
        await MeasureMemoryPerSensorAsync(server, database, "warm-" + prefix, online, 200, cancellationToken);
        return await MeasureMemoryPerSensorAsync(server, database, prefix, online, settings.ActiveSensors, cancellationToken);
    }

    /// <summary>
    /// Resident and managed bytes per online sensor grain: heap after a full GC with none of the extra
    /// sensors active, then again after each has sent one real heartbeat (so each holds its record, its
    /// silence timer and its reminder), divided by their number.
    /// </summary>
    private async Task<(double Resident, double Managed)> MeasureMemoryPerSensorAsync(
        ServerProcess server, string database, string prefix, bool online, int count, CancellationToken cancellationToken)
    {
        var token = SensorTokens.NewToken();
        var presented = online ? token : SensorTokens.NewToken();
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync(cancellationToken);
            await using var insert = new NpgsqlCommand(
                "INSERT INTO sensor (name, token_hash) SELECT $3 || g, $1 FROM generate_series(1, $2) AS g", connection);
            insert.Parameters.AddWithValue(SensorTokens.Hash(token));
            insert.Parameters.AddWithValue(count);
            insert.Parameters.AddWithValue(prefix);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        var before = await HeapAsync(server, cancellationToken);
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = settings.Concurrency }) { BaseAddress = server.BaseAddress };
        var next = 0;
        var failures = 0;
        await Task.WhenAll(Enumerable.Range(0, settings.Concurrency).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) <= count)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/api/sensors/{prefix}{index}/heartbeat", UriKind.Relative));
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", presented);
                using var response = await client.SendAsync(request, cancellationToken);
                if (response.IsSuccessStatusCode != online)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }));
        if (failures > 0)
        {
            throw new InvalidOperationException($"{failures} of the {count} activating heartbeats did not answer as expected.");
        }

        var after = await HeapAsync(server, cancellationToken);
        return ((after.ResidentBytes - before.ResidentBytes) / (double)count,
                (after.ManagedBytes - before.ManagedBytes) / (double)count);
    }

    private static async Task<Heap> HeapAsync(ServerProcess server, CancellationToken cancellationToken)
    {
        using var response = await server.Http.PostAsync(new Uri("/bench/gc", UriKind.Relative), null, cancellationToken);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<Heap>(cancellationToken))!;
    }

    /// <summary>Where the database spent its time during the runs, by statement (pg_stat_statements).</summary>
    private static async Task PrintTopStatementsAsync(string database, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(cancellationToken);
        await using (var create = new NpgsqlCommand("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", connection))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var top = new NpgsqlCommand("""
            SELECT calls, round(total_exec_time)::bigint, left(regexp_replace(query, '\s+', ' ', 'g'), 100)
            FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 8
            """, connection);
        await using var reader = await top.ExecuteReaderAsync(cancellationToken);
        Console.WriteLine("  top statements (calls, total ms, statement):");
        while (await reader.ReadAsync(cancellationToken))
        {
            Console.WriteLine($"    {reader.GetInt64(0),9} {reader.GetInt64(1),8}  {reader.GetString(2)}");
        }
    }

    private static Task<long> CountHeartbeatsAsync(string database) => Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat");

    private static void PrintUpkeep(DatabaseActivity activity, string indent) => Console.WriteLine(
        $"{indent}upkeep: {activity.Checkpoints} checkpoints counted, {activity.CheckpointBuffers} buffers written by checkpoints, " +
        $"WAL {activity.WalBytes / 1024.0:0} KiB ({activity.FullPageImages} whole pages), {activity.Autovacuums} autovacuums or autoanalyzes finished, " +
        $"{activity.VacuumsRunning} vacuums running at either end");

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan duration) => Text(duration.TotalSeconds) + "s";

    private sealed record Heap(long ManagedBytes, long ResidentBytes, long HeartbeatBatches, long HeartbeatsStored);

    /// <summary>
    /// Counters from pg_stat views, to see how the writes reached the database and what PostgreSQL's own upkeep did
    /// meanwhile: checkpoints (counted when one begins, or when it ends if it ran behind), the buffers they wrote (a
    /// checkpoint that began before the window shows here), WAL and its whole-page images (the first change to a page
    /// after a checkpoint logs all of it), autovacuums finished, and vacuums under way at either end of the window.
    /// </summary>
    private sealed record DatabaseActivity(
        long Commits, long SensorUpdates, long SensorHotUpdates, long ReminderWrites,
        long Checkpoints, long CheckpointBuffers, long WalBytes, long FullPageImages, long Autovacuums, long VacuumsRunning)
    {
        public static async Task<DatabaseActivity> ReadAsync(string database)
        {
            await using var connection = new NpgsqlConnection(database);
            await connection.OpenAsync();
            // PostgreSQL 17 moved the checkpoint counters from pg_stat_bgwriter to pg_stat_checkpointer.
            var checkpoints = connection.PostgreSqlVersion.Major >= 17
                ? "(SELECT num_timed + num_requested FROM pg_stat_checkpointer), (SELECT buffers_written FROM pg_stat_checkpointer)"
                : "(SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter), (SELECT buffers_checkpoint FROM pg_stat_bgwriter)";
            // This flushes only this session's counters; the others publish theirs about once a second, so a window's
            // edges are that approximate.
            await using var command = new NpgsqlCommand($"""
                SELECT pg_stat_force_next_flush(),
                       (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
                       (SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'sensor'),
                       (SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'sensor'),
                       (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_user_tables WHERE relname = 'orleans_reminder'),
                       {checkpoints},
                       (SELECT wal_bytes::bigint FROM pg_stat_wal),
                       (SELECT wal_fpi FROM pg_stat_wal),
                       (SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0)::bigint FROM pg_stat_user_tables),
                       (SELECT count(*) FROM pg_stat_progress_vacuum)
                """, connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return new DatabaseActivity(
                reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5),
                reader.GetInt64(6), reader.GetInt64(7), reader.GetInt64(8), reader.GetInt64(9), reader.GetInt64(10));
        }

        public DatabaseActivity Since(DatabaseActivity before) => new(
            Commits - before.Commits, SensorUpdates - before.SensorUpdates, SensorHotUpdates - before.SensorHotUpdates, ReminderWrites - before.ReminderWrites,
            Checkpoints - before.Checkpoints, CheckpointBuffers - before.CheckpointBuffers, WalBytes - before.WalBytes, FullPageImages - before.FullPageImages,
            Autovacuums - before.Autovacuums, Math.Max(VacuumsRunning, before.VacuumsRunning));
    }
}
