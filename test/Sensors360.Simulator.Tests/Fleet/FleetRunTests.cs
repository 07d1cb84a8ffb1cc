using Microsoft.Extensions.Time.Testing;
using Sensors360.Simulator.Fleet;
using Sensors360.Simulator.Roster;
using Sensors360.Simulator.Server;
using Sensors360.Simulator.Status;

namespace Sensors360.Simulator.Tests.Fleet;

/// <summary>The fleet played against an in-memory server on a fake clock: what is sent, retired, provisioned and recovered.</summary>
public sealed class FleetRunTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sensors360-fleet-");
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task A_dead_sensor_is_retired_and_a_new_one_provisioned_that_reports_in_its_place()
    {
        var server = new FakeSensorServer(_clock);
        var options = Options(sensors: 3) with
        {
            Behaviour = new FleetBehaviour
            {
                Interval = TimeSpan.FromSeconds(1),
                SilenceThreshold = TimeSpan.FromSeconds(2),
                LifespanShape = 20,
                LifespanScale = TimeSpan.FromSeconds(10),
                FlakyShare = 0,
                Replace = true,
            },
        };
        var run = NewRun(options, server);

        await run.StartAsync(TestContext.Current.CancellationToken);
        await PlayAsync(run, TimeSpan.FromSeconds(20));
        var summary = await run.StopAsync();

        // The first three died near 10 s and were replaced within two thresholds; their replacements report. The first
        // three are provisioned in parallel, so they reach the server in any order.
        Assert.Equal(["sim-00001", "sim-00002", "sim-00003"], server.Provisioned.Take(3).Order());
        Assert.Equal(["sim-00001", "sim-00002", "sim-00003"], server.Retired.Order());
        Assert.Equal(3, summary.Replaced);
        Assert.Equal(6, server.Provisioned.Count);
        foreach (var fresh in server.Provisioned.Skip(3))
        {
            Assert.Contains(server.Heartbeats, beat => beat.Id == fresh && beat.Status == 204);
        }

        // Nobody sends after their death, so the server never had to refuse a heartbeat.
        Assert.All(server.Heartbeats, beat => Assert.Equal(204, beat.Status));
        foreach (var sensor in run.Model.Sensors)
        {
            var sent = server.Heartbeats.Where(beat => beat.Id == sensor.Id).ToList();
            Assert.Equal(sensor.Heartbeats, sent.Count);
            // Sent at the first tick (100 ms) after the beat was due, and the last one was due before the end of life.
            if (sensor.EndedAt is { } ended)
            {
                Assert.All(sent, beat => Assert.True(beat.At < ended + TimeSpan.FromMilliseconds(100), $"{sensor.Id} sent at {beat.At:O}, it died at {ended:O}"));
            }
        }

        Assert.Equal(server.Heartbeats.Count, summary.Acknowledged);
        var roster = SensorRoster.Load(options.Access.StateFile);
        Assert.Equal(server.Provisioned.Skip(3).Order(), roster.Entries.Select(entry => entry.Id).Order());
    }

    [Fact]
    public async Task A_token_the_server_refuses_is_rotated_and_heartbeats_resume()
    {
        var server = new FakeSensorServer(_clock);
        var run = NewRun(Options(sensors: 2), server);
        await run.StartAsync(TestContext.Current.CancellationToken);
        await PlayAsync(run, TimeSpan.FromSeconds(12));

        server.RotateBehindTheBack("sim-00001");
        var rotatedAt = _clock.GetUtcNow();
        await PlayAsync(run, TimeSpan.FromSeconds(30));
        await run.StopAsync();

        Assert.Equal(["sim-00001"], server.Rotated);
        var after = server.Heartbeats.Where(beat => beat.Id == "sim-00001" && beat.At > rotatedAt).ToList();
        Assert.Equal(401, after[0].Status);
        Assert.All(after.Skip(1), beat => Assert.Equal(204, beat.Status));
        Assert.True(after.Count > 3);
        Assert.Equal(server.Heartbeats.Count(beat => beat.Status == 204), run.Outcomes.Succeeded);
        Assert.Equal(1, run.Outcomes.StatusCodes[401]);
    }

    [Fact]
    public async Task A_sensor_an_operator_retired_stops_for_good()
    {
        var server = new FakeSensorServer(_clock);
        var run = NewRun(Options(sensors: 2), server);
        await run.StartAsync(TestContext.Current.CancellationToken);
        await PlayAsync(run, TimeSpan.FromSeconds(12));

        await server.RetireAsync("sim-00002", TestContext.Current.CancellationToken);
        await PlayAsync(run, TimeSpan.FromSeconds(30));
        await run.StopAsync();

        var refused = Assert.Single(server.Heartbeats, beat => beat.Status != 204);
        Assert.Equal(("sim-00002", 410), (refused.Id, refused.Status));
        Assert.False(run.Model.Sensors.Single(sensor => sensor.Id == "sim-00002").IsAlive);
        Assert.DoesNotContain(SensorRoster.Load(Path.Combine(_directory.FullName, "state.json")).Entries, entry => entry.Id == "sim-00002");
    }

    [Fact]
    public async Task Heartbeats_carry_metrics_unless_switched_off()
    {
        var server = new FakeSensorServer(_clock);
        var withMetrics = NewRun(Options(sensors: 1), server);
        await withMetrics.StartAsync(TestContext.Current.CancellationToken);
        await PlayAsync(withMetrics, TimeSpan.FromSeconds(12));
        await withMetrics.StopAsync();

        var quiet = new FakeSensorServer(_clock);
        var withoutMetrics = NewRun(Options(sensors: 1) with { Metrics = false, Access = Access("other.json") }, quiet);
        await withoutMetrics.StartAsync(TestContext.Current.CancellationToken);
        await PlayAsync(withoutMetrics, TimeSpan.FromSeconds(12));
        await withoutMetrics.StopAsync();

        Assert.NotEmpty(server.Heartbeats);
        Assert.All(server.Heartbeats, beat => Assert.StartsWith("{\"metrics\":{\"battery\":0.", System.Text.Encoding.UTF8.GetString(beat.Body)));
        Assert.NotEmpty(quiet.Heartbeats);
        Assert.All(quiet.Heartbeats, beat => Assert.Empty(beat.Body));
    }

    public void Dispose() => _directory.Delete(recursive: true);

    private FleetOptions Options(int sensors) => new()
    {
        Access = Access("state.json"),
        Sensors = sensors,
        Seed = 11,
        Behaviour = new FleetBehaviour { Interval = TimeSpan.FromSeconds(5), LifespanScale = TimeSpan.FromDays(1), FlakyShare = 0 },
    };

    private ServerAccess Access(string stateFile) =>
        new(new Uri("http://sensors.test"), "admin", "secret", Path.Combine(_directory.FullName, stateFile));

    private FleetRun NewRun(FleetOptions options, FakeSensorServer server) =>
        new(options, server, server, SensorRoster.Load(options.Access.StateFile), _clock, new StatusLine(TextWriter.Null, inPlace: false));

    /// <summary>Moves the fake clock in 100 ms steps; after each, the run carries out what is due and everything it started completes.</summary>
    private async Task PlayAsync(FleetRun run, TimeSpan duration)
    {
        for (var elapsed = TimeSpan.Zero; elapsed < duration; elapsed += TimeSpan.FromMilliseconds(100))
        {
            _clock.Advance(TimeSpan.FromMilliseconds(100));
            run.Tick();
            await run.DrainAsync();
        }
    }
}
