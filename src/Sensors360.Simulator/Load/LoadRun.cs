using System.Globalization;
using HdrHistogram;
using Sensors360.Simulator.Server;
using Sensors360.Simulator.Status;

namespace Sensors360.Simulator.Load;

/// <summary>One request target: the full URL and the bearer token to present (null: none).</summary>
internal sealed record LoadTarget(Uri Uri, string? Token);

/// <summary>
/// Sends requests for a fixed duration with at most <see cref="LoadOptions.Concurrency"/> in flight, the
/// targets taken in turn. With a rate, requests follow a <see cref="RateSchedule"/> and latency counts from
/// each request's due time; without one (<c>--max</c>) each worker sends its next request as soon as the
/// previous one is answered. Requests under way when time is up are answered and counted, never abandoned.
/// </summary>
internal sealed class LoadRun(LoadOptions options, IReadOnlyList<LoadTarget> targets, IHeartbeatTransport transport, TimeProvider clock, StatusLine status)
{
    private static readonly byte[] MetricsBody = """{"metrics":{"battery":0.5,"temperatureC":21.5}}"""u8.ToArray();

    private readonly OutcomeTally _outcomes = new();
    private readonly Lock _gate = new();
    private readonly LongHistogram _latency = LatencySummary.NewHistogram();
    private readonly LongHistogram _serviceTime = LatencySummary.NewHistogram();
    // Only with --intervals: latencies since the last interval line, taken without stopping the workers.
    private readonly Recorder? _intervalLatency = options.IntervalsFile is null ? null : LatencySummary.NewRecorder();
    // The recorder keeps reader and writers apart, not writers from each other: its LongHistogram loses counts when
    // two workers record at once, so the workers take turns.
    private readonly Lock _intervalGate = new();
    private RateSchedule _schedule;
    private long _start;
    private long _end;
    private long _claimed;
    private long _sent;
    private long _inFlight;
    private long _maxLag;
    private long _lastAnswer;
    private long _sentAtLastReport;
    private long _lastReport;

    public async Task<LoadResult> RunAsync(CancellationToken cancellationToken)
    {
        var startedAt = clock.GetUtcNow();
        _start = clock.GetTimestamp();
        _end = _start + (long)(options.Duration.TotalSeconds * clock.TimestampFrequency);
        _schedule = new RateSchedule(_start, options.Rate ?? 1, clock.TimestampFrequency);
        _lastAnswer = _start;

        // Sending stops at the end of the duration, or earlier when cancelled (Ctrl+C).
        var stopSending = _end;
        using var cancelled = cancellationToken.Register(() => Interlocked.Exchange(ref stopSending, Math.Min(clock.GetTimestamp(), _end)));
        using var stopReporting = new CancellationTokenSource();
        var reporting = ReportAsync(stopReporting.Token);
        var intervals = options.IntervalsFile is { } file ? WriteIntervalsAsync(file, stopReporting.Token) : Task.CompletedTask;
        await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(_ => Task.Run(() => WorkAsync(cancellationToken), CancellationToken.None)));
        await stopReporting.CancelAsync();
        await reporting;
        await intervals;
        status.End();

        var stoppedSending = Interlocked.Read(ref stopSending);
        var elapsedSeconds = Seconds(Math.Max(Interlocked.Read(ref _lastAnswer), stoppedSending) - _start);
        var scheduled = options.Rate is null ? _sent : _schedule.DueBefore(stoppedSending);
        return new LoadResult(
            startedAt,
            options.Access.Server.ToString(),
            options.UrlPath,
            options.Rate is null ? "max" : "rate",
            options.Rate,
            options.Concurrency,
            targets.Count,
            !options.NoAuth,
            options.Metrics,
            options.Duration.TotalSeconds,
            Math.Round(elapsedSeconds, 3),
            scheduled,
            _sent,
            _outcomes.Completed - _outcomes.TransportErrorCount,
            _outcomes.Succeeded,
            Math.Round((_outcomes.Completed - _outcomes.TransportErrorCount) / elapsedSeconds, 1),
            Math.Round(_outcomes.Succeeded / elapsedSeconds, 1),
            Math.Round(Seconds(_maxLag) * 1000, 3),
            LatencySummary.Of(_latency),
            LatencySummary.Of(_serviceTime),
            _outcomes.StatusCodes.ToDictionary(pair => pair.Key.ToString(CultureInfo.InvariantCulture), pair => pair.Value),
            _outcomes.TransportErrors,
            _outcomes.TransportErrorCount);
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        var body = options.Metrics ? MetricsBody : default(ReadOnlyMemory<byte>);
        var latency = LatencySummary.NewHistogram();
        var serviceTime = LatencySummary.NewHistogram();
        var maxLag = 0L;
        while (!cancellationToken.IsCancellationRequested)
        {
            var now = clock.GetTimestamp();
            if (now >= _end)
            {
                break;
            }

            var index = Interlocked.Increment(ref _claimed) - 1;
            var due = now;
            if (options.Rate is not null)
            {
                due = _schedule.DueAt(index);
                if (due >= _end)
                {
                    break;
                }

                if (due > now)
                {
                    try
                    {
                        await Task.Delay(clock.GetElapsedTime(now, due), clock, cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }

                maxLag = Math.Max(maxLag, clock.GetTimestamp() - due);
            }

            var target = targets[(int)(index % targets.Count)];
            Interlocked.Increment(ref _sent);
            Interlocked.Increment(ref _inFlight);
            var sentAt = clock.GetTimestamp();
            var outcome = await transport.SendAsync(target.Uri, target.Token, body, CancellationToken.None);
            var answeredAt = clock.GetTimestamp();
            Interlocked.Decrement(ref _inFlight);
            _outcomes.Record(outcome);
            if (outcome.StatusCode != 0)
            {
                latency.RecordValue(Microseconds(answeredAt - due));
                serviceTime.RecordValue(Microseconds(answeredAt - sentAt));
                if (_intervalLatency is not null)
                {
                    lock (_intervalGate)
                    {
                        _intervalLatency.RecordValue(Microseconds(answeredAt - due));
                    }
                }
            }

            RunningMaximum.Raise(ref _lastAnswer, answeredAt);
        }

        lock (_gate)
        {
            _latency.Add(latency);
            _serviceTime.Add(serviceTime);
            _maxLag = Math.Max(_maxLag, maxLag);
        }
    }

    private async Task ReportAsync(CancellationToken stop)
    {
        try
        {
            while (true)
            {
                await Task.Delay(status.Period, clock, stop);
                status.Show(Describe());
            }
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    /// <summary>
    /// One line per interval as it ends, and a last, shorter one for what was answered after the final full interval.
    /// Counts are differences of the run's running totals, so the lines add up to the result.
    /// </summary>
    private async Task WriteIntervalsAsync(string file, CancellationToken stop)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(file)) is { } directory)
        {
            Directory.CreateDirectory(directory);
        }

        await using var writer = new StreamWriter(file, append: false) { AutoFlush = true };
        var before = Totals.Of(_outcomes);
        var beforeAt = _start;
        for (var index = 1; ; index++)
        {
            var over = false;
            var due = _start + (long)(options.Interval.TotalSeconds * index * clock.TimestampFrequency);
            try
            {
                var wait = clock.GetElapsedTime(clock.GetTimestamp(), due);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, clock, stop);
                }
            }
            catch (OperationCanceledException)
            {
                over = true;
            }

            var now = clock.GetTimestamp();
            var totals = Totals.Of(_outcomes);
            var interval = new LoadInterval(
                index,
                clock.GetUtcNow(),
                Math.Round(Seconds(now - beforeAt), 3),
                totals.Succeeded + totals.Failed - before.Succeeded - before.Failed,
                totals.Succeeded - before.Succeeded,
                totals.Failed - totals.Transport - (before.Failed - before.Transport),
                totals.Transport - before.Transport,
                totals.StatusCodes
                    .Select(pair => (Code: pair.Key, Count: pair.Value - before.StatusCodes.GetValueOrDefault(pair.Key)))
                    .Where(pair => pair.Count > 0)
                    .ToDictionary(pair => pair.Code.ToString(CultureInfo.InvariantCulture), pair => pair.Count),
                LatencySummary.Of(_intervalLatency!.GetIntervalHistogram()));
            if (!over || interval.Requests > 0)
            {
                await writer.WriteLineAsync(interval.ToJsonLine());
            }

            if (over)
            {
                return;
            }

            (before, beforeAt) = (totals, now);
        }
    }

    /// <summary>The run's running totals at one moment.</summary>
    private sealed record Totals(long Succeeded, long Failed, long Transport, IReadOnlyDictionary<int, long> StatusCodes)
    {
        public static Totals Of(OutcomeTally tally) => new(tally.Succeeded, tally.Failed, tally.TransportErrorCount, tally.StatusCodes);
    }

    private string Describe()
    {
        var now = clock.GetTimestamp();
        var sent = Interlocked.Read(ref _sent);
        var since = _lastReport == 0 ? _start : _lastReport;
        var rate = (sent - _sentAtLastReport) / Math.Max(Seconds(now - since), 1e-3);
        _sentAtLastReport = sent;
        _lastReport = now;
        var lag = options.Rate is null ? 0 : Math.Max(0, Math.Min(now, _end) - _schedule.DueAt(Interlocked.Read(ref _claimed)));
        var failures = _outcomes.DescribeFailures();
        return string.Create(CultureInfo.InvariantCulture,
            $"load {Seconds(now - _start),5:0.0} s  {rate,8:0.0} req/s  sent {sent}  2xx {_outcomes.Succeeded}  errors {_outcomes.Failed}{(failures.Length > 0 ? $" [{failures}]" : "")}  in flight {Interlocked.Read(ref _inFlight)}  lag {Seconds(lag) * 1000:0} ms");
    }

    private double Seconds(long timestamps) => (double)timestamps / clock.TimestampFrequency;

    private long Microseconds(long timestamps) =>
        Math.Clamp((long)(timestamps * 1_000_000.0 / clock.TimestampFrequency), 0, LatencySummary.HighestMicroseconds);
}
