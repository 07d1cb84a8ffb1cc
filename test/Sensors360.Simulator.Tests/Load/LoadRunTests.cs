using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Sensors360.Simulator.Load;
using Sensors360.Simulator.Server;
using Sensors360.Simulator.Status;

namespace Sensors360.Simulator.Tests.Load;

/// <summary>The load generator on a fake clock, against a transport whose answers take a known time.</summary>
public sealed class LoadRunTests
{
    private static readonly ServerAccess Access = new(new Uri("http://sensors.test"), "admin", null, "unused.json");

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));

    [Fact]
    public void The_schedule_is_fixed_by_the_rate_alone()
    {
        var schedule = new RateSchedule(Start: 1_000, RatePerSecond: 250, TimestampFrequency: 1_000_000);

        Assert.Equal(1_000, schedule.DueAt(0));
        Assert.Equal(5_000, schedule.DueAt(1));
        Assert.Equal(1_000 + 4_000_000, schedule.DueAt(1_000));
        Assert.Equal(0, schedule.DueBefore(1_000));
        Assert.Equal(1, schedule.DueBefore(1_001));
        Assert.Equal(250, schedule.DueBefore(1_001_000));
    }

    [Fact]
    public async Task At_a_fixed_rate_latency_counts_from_the_intended_send_time_so_a_slow_server_cannot_hide()
    {
        // 100 requests/s are asked for, but each answer takes 100 ms and only one may be in flight: the client
        // falls behind. Request k is due at 10k ms and answered at 100(k+1) ms, so its latency is 100 + 90k ms.
        var transport = new SlowTransport(_clock, TimeSpan.FromMilliseconds(100));
        var options = new LoadOptions { Access = Access, Rate = 100, Concurrency = 1, Duration = TimeSpan.FromSeconds(1), NoAuth = true };

        var result = await NewRun(options, transport, targets: 3).RunAsync(TestContext.Current.CancellationToken);

        Assert.Equal(100, result.Scheduled);
        Assert.Equal(10, result.Sent);
        Assert.Equal(10, result.Completed);
        Assert.InRange(result.LatencyMs.Max, 910 * 0.999, 910 * 1.001);
        Assert.InRange(result.LatencyMs.P50, 460 * 0.999, 460 * 1.001);
        Assert.InRange(result.LatencyMs.Mean, 505 * 0.99, 505 * 1.01);
        // What a closed-loop client would have reported instead: 100 ms every time.
        Assert.InRange(result.ServiceTimeMs.Max, 99.9, 100.1);
        Assert.InRange(result.MaxLagMs, 809.9, 810.1);
        Assert.Equal(1.0, result.ElapsedSeconds);
        Assert.Equal(10.0, result.AchievedRate);
        Assert.Equal(["sensors.test/load-00001", "sensors.test/load-00002", "sensors.test/load-00003", "sensors.test/load-00001"],
            transport.Targets.Take(4).Select(uri => uri.Host + uri.AbsolutePath.Replace("/api/sensors", "", StringComparison.Ordinal).Replace("/heartbeat", "", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Every_non_2xx_answer_is_counted_by_status_and_every_transport_failure_by_kind()
    {
        // Request i fails in transport when i % 25 == 0, gets 503 when i % 10 == 0, else 204.
        var transport = new SlowTransport(_clock, TimeSpan.FromMilliseconds(10), i =>
            i % 25 == 0 ? SendOutcome.Failed("ConnectionError") : new SendOutcome(i % 10 == 0 ? 503 : 204));
        var options = new LoadOptions { Access = Access, Concurrency = 1, Duration = TimeSpan.FromSeconds(1), NoAuth = true };

        var result = await NewRun(options, transport, targets: 2).RunAsync(TestContext.Current.CancellationToken);

        Assert.Equal("max", result.Mode);
        Assert.Equal(100, result.Sent);
        Assert.Equal(96, result.Completed);
        Assert.Equal(88, result.Succeeded);
        Assert.Equal(new Dictionary<string, long> { ["204"] = 88, ["503"] = 8 }, result.StatusCodes);
        Assert.Equal(new Dictionary<string, long> { ["ConnectionError"] = 4 }, result.TransportErrors);
        Assert.Equal(4, result.TransportErrorCount);
        Assert.Equal(96, result.LatencyMs.Count);
        Assert.InRange(result.LatencyMs.P99, 9.99, 10.01);

        // The JSON the benchmark reads.
        using var json = JsonDocument.Parse(result.ToJson());
        var root = json.RootElement;
        Assert.Equal("max", root.GetProperty("mode").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("targetRate").ValueKind);
        Assert.Equal(88, root.GetProperty("statusCodes").GetProperty("204").GetInt64());
        Assert.Equal(4, root.GetProperty("transportErrors").GetProperty("ConnectionError").GetInt64());
        foreach (var percentile in (string[])["p50", "p90", "p99", "p999", "max", "mean", "count"])
        {
            Assert.Equal(JsonValueKind.Number, root.GetProperty("latencyMs").GetProperty(percentile).ValueKind);
        }

        foreach (var field in (string[])["startedAt", "server", "urlPath", "concurrency", "sensors", "auth", "metrics", "durationSeconds", "elapsedSeconds",
            "scheduled", "sent", "completed", "succeeded", "achievedRate", "succeededRate", "maxLagMs", "serviceTimeMs", "transportErrorCount"])
        {
            Assert.True(root.TryGetProperty(field, out _), $"no {field} in {result.ToJson()}");
        }
    }

    [Fact]
    public async Task With_intervals_each_interval_gets_a_line_and_the_lines_add_up_to_the_result()
    {
        var file = Path.Combine(Path.GetTempPath(), $"sensors360-intervals-{Guid.NewGuid():N}.ndjson");
        try
        {
            // On the real clock (intervals are wall-clock time): 2.5 s with 1-s intervals, answers taking 5 ms, every
            // 10th a 503 and every 25th none at all.
            var transport = new WaitingTransport(TimeSpan.FromMilliseconds(5), i =>
                i % 25 == 0 ? SendOutcome.Failed("ConnectionError") : new SendOutcome(i % 10 == 0 ? 503 : 204));
            var options = new LoadOptions
            {
                Access = Access, Concurrency = 2, Duration = TimeSpan.FromSeconds(2.5), NoAuth = true, IntervalsFile = file, Interval = TimeSpan.FromSeconds(1),
            };
            var run = new LoadRun(options, [new LoadTarget(new Uri("http://sensors.test/x"), null)], transport, TimeProvider.System, new StatusLine(TextWriter.Null, inPlace: false));

            var result = await run.RunAsync(TestContext.Current.CancellationToken);

            var lines = (await File.ReadAllLinesAsync(file, TestContext.Current.CancellationToken))
                .Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();
            // Two full intervals and the last half second; on a busy machine a late timer may fold the half second into
            // the second line, so the number of lines is not pinned, only their order and that a line ends no interval early.
            Assert.Equal(Enumerable.Range(1, lines.Count), lines.Select(line => line.GetProperty("index").GetInt32()));
            Assert.InRange(lines.Count, 2, 3);
            Assert.All(lines.Take(2), line => Assert.True(line.GetProperty("seconds").GetDouble() >= 0.95, line.ToString()));
            Assert.Equal(result.Sent, lines.Sum(line => line.GetProperty("requests").GetInt64()));
            Assert.Equal(result.Succeeded, lines.Sum(line => line.GetProperty("succeeded").GetInt64()));
            Assert.Equal(result.StatusCodes["503"], lines.Sum(line => line.GetProperty("non2xx").GetInt64()));
            Assert.Equal(result.StatusCodes["503"], lines.Sum(line => line.GetProperty("statusCodes").GetProperty("503").GetInt64()));
            Assert.Equal(result.TransportErrorCount, lines.Sum(line => line.GetProperty("transportErrors").GetInt64()));
            Assert.Equal(result.Completed, lines.Sum(line => line.GetProperty("latencyMs").GetProperty("count").GetInt64()));
            Assert.All(lines, line => Assert.True(line.GetProperty("latencyMs").GetProperty("p50").GetDouble() >= 5));
        }
        finally
        {
            File.Delete(file);
        }
    }

    private LoadRun NewRun(LoadOptions options, IHeartbeatTransport transport, int targets) => new(
        options,
        [.. Enumerable.Range(1, targets).Select(n => new LoadTarget(LoadGenerator.TargetUri(options.Access.Server, options.UrlPath, $"load-{n:00000}"), null))],
        transport,
        _clock,
        new StatusLine(TextWriter.Null, inPlace: false));

    /// <summary>Answers after a real wait; any number of callers.</summary>
    private sealed class WaitingTransport(TimeSpan delay, Func<int, SendOutcome> answer) : IHeartbeatTransport
    {
        private int _sent;

        public async Task<SendOutcome> SendAsync(Uri target, string? token, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
        {
            var index = Interlocked.Increment(ref _sent) - 1;
            await Task.Delay(delay, cancellationToken);
            return answer(index);
        }
    }

    /// <summary>Answers after a fixed time on the fake clock, which it moves itself; one caller at a time.</summary>
    private sealed class SlowTransport(FakeTimeProvider clock, TimeSpan delay, Func<int, SendOutcome>? answer = null) : IHeartbeatTransport
    {
        private readonly List<Uri> _targets = [];

        public IReadOnlyList<Uri> Targets => _targets;

        public Task<SendOutcome> SendAsync(Uri target, string? token, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
        {
            var index = _targets.Count;
            _targets.Add(target);
            clock.Advance(delay);
            return Task.FromResult(answer?.Invoke(index) ?? new SendOutcome(204));
        }
    }
}
