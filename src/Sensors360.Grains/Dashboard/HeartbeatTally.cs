using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Dashboard;

/// <summary>
/// This silo's heartbeat counts and intervals, summed per second in memory and sent to the dashboard
/// grain once a second: the fleet's rates without a grain call per heartbeat.
/// </summary>
public sealed partial class HeartbeatTally(
    IGrainFactory grains,
    [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
    ILogger<HeartbeatTally> logger) : BackgroundService
{
    private static readonly TimeSpan FlushEvery = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    // Counted in place under the lock (every stored heartbeat passes here), turned into records only when sent.
    private readonly Dictionary<long, SecondCounts> _seconds = [];

    /// <summary>Counts a stored heartbeat; <paramref name="interval"/> is the time since the sensor's previous one.</summary>
    public void Record(DateTimeOffset receivedAt, TimeSpan? interval)
    {
        var second = receivedAt.ToUnixTimeSeconds();
        lock (_gate)
        {
            if (!_seconds.TryGetValue(second, out var counts))
            {
                _seconds[second] = counts = new SecondCounts();
            }

            counts.Heartbeats++;
            if (interval is { } since)
            {
                counts.IntervalSecondsSum += since.TotalSeconds;
                counts.Intervals++;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushEvery, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync(clock.GetUtcNow().ToUnixTimeSeconds());
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Sends every finished second; the current one is still being counted.</summary>
    private async Task FlushAsync(long currentSecond)
    {
        HeartbeatTallySecond[] finished;
        lock (_gate)
        {
            finished = [.. _seconds.Where(second => second.Key < currentSecond)
                .Select(second => new HeartbeatTallySecond(second.Key, second.Value.Heartbeats, second.Value.IntervalSecondsSum, second.Value.Intervals))];
            foreach (var second in finished)
            {
                _seconds.Remove(second.UnixSecond);
            }
        }

        if (finished.Length == 0)
        {
            return;
        }

        try
        {
            await grains.GetGrain<IDashboardGrain>(0).ReportHeartbeats(finished);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException)
        {
            // Lost seconds only blur the recent rate; the counts come from the database anyway.
            LogFlushFailed(logger, finished.Length, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not send {Seconds} seconds of heartbeat tallies to the dashboard: {Reason}")]
    private static partial void LogFlushFailed(ILogger logger, int seconds, string reason);

    private sealed class SecondCounts
    {
        public long Heartbeats;
        public double IntervalSecondsSum;
        public long Intervals;
    }
}
