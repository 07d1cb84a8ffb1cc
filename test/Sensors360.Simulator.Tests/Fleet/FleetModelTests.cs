using Microsoft.Extensions.Time.Testing;
using Sensors360.Simulator.Fleet;

namespace Sensors360.Simulator.Tests.Fleet;

/// <summary>The failure model and the heartbeat schedule, on a fake clock and fixed seeds.</summary>
public sealed class FleetModelTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 8, 0, 0, TimeSpan.Zero);

    [Theory]
    // Γ(1 + 1/k) for the shapes: Γ(2) = 1, Γ(5/3), Γ(3/2) = √π/2, Γ(4/3).
    [InlineData(1.0, 1.0)]
    [InlineData(1.5, 0.9027452929509336)]
    [InlineData(2.0, 0.886226925452758)]
    [InlineData(3.0, 0.8929795115692492)]
    public void Drawn_lifespans_average_to_the_Weibull_mean(double shape, double gammaOfOnePlusInverseShape)
    {
        var model = new FleetModel(new FleetBehaviour { LifespanShape = shape, LifespanScale = TimeSpan.FromSeconds(600) }, new Random(20260301));
        const int Count = 40_000;
        for (var i = 0; i < Count; i++)
        {
            model.Add($"s{i}", Start);
        }

        var mean = model.Sensors.Average(sensor => sensor.Lifespan.TotalSeconds);
        var expected = 600 * gammaOfOnePlusInverseShape;
        // The standard error is at most 0.5 % of the mean here (coefficient of variation ≤ 1); 2 % is four of them.
        Assert.InRange(mean, expected * 0.98, expected * 1.02);
    }

    [Fact]
    public void The_same_seed_gives_the_same_fleet_history()
    {
        static string History(int seed)
        {
            var model = new FleetModel(new FleetBehaviour { FlakyShare = 0.5, LifespanScale = TimeSpan.FromSeconds(60) }, new Random(seed));
            for (var i = 0; i < 10; i++)
            {
                model.Add($"s{i}", Start);
            }

            return string.Join('\n', model.Advance(Start.AddHours(1)).Select(e => $"{e.GetType().Name} {e.Sensor.Id} {e.At:O}"));
        }

        Assert.Equal(History(7), History(7));
        Assert.NotEqual(History(7), History(8));
    }

    [Fact]
    public void A_sensor_sends_nothing_after_its_death()
    {
        var clock = new FakeTimeProvider(Start);
        var model = new FleetModel(
            new FleetBehaviour { LifespanScale = TimeSpan.FromSeconds(120), FlakyShare = 0.5, SilenceThreshold = TimeSpan.FromSeconds(20) },
            new Random(1));
        for (var i = 0; i < 50; i++)
        {
            model.Add($"s{i}", clock.GetUtcNow());
        }

        var events = RunFor(model, clock, TimeSpan.FromHours(2), TimeSpan.FromSeconds(1));

        Assert.Null(model.NextEventAt);
        Assert.All(model.Sensors, sensor =>
        {
            var own = events.Where(e => e.Sensor == sensor).ToList();
            var death = Assert.Single(own.OfType<SensorDied>());
            Assert.Equal(sensor.EndOfLife, death.At);
            Assert.IsType<SensorDied>(own[^1]);
            var beats = own.OfType<HeartbeatDue>().ToList();
            Assert.NotEmpty(beats);
            Assert.All(beats, beat => Assert.True(beat.At < death.At, $"{sensor.Id} beat at {beat.At:O}, after its death at {death.At:O}"));
            Assert.Equal(sensor.BornAt, beats[0].At);
            Assert.Equal(beats[^1].At, sensor.DiedAt);
            Assert.Equal(beats.Count, sensor.Heartbeats);
        });
    }

    [Fact]
    public void Heartbeat_intervals_stay_within_the_jitter_bounds_and_use_them()
    {
        var clock = new FakeTimeProvider(Start);
        var behaviour = new FleetBehaviour { Interval = TimeSpan.FromSeconds(5), Jitter = 0.1, LifespanScale = TimeSpan.FromDays(365), FlakyShare = 0 };
        var model = new FleetModel(behaviour, new Random(2));
        for (var i = 0; i < 20; i++)
        {
            model.Add($"s{i}", clock.GetUtcNow());
        }

        var beats = RunFor(model, clock, TimeSpan.FromMinutes(30), TimeSpan.FromSeconds(1)).OfType<HeartbeatDue>().ToList();

        var gaps = Gaps(beats);
        Assert.All(gaps, gap => Assert.InRange(gap.TotalSeconds, 4.5, 5.5));
        Assert.InRange(gaps.Min().TotalSeconds, 4.5, 4.55);
        Assert.InRange(gaps.Max().TotalSeconds, 5.45, 5.5);
        // Sensors start out of step: each one's first heartbeat comes within one interval.
        Assert.All(model.Sensors, sensor => Assert.InRange(sensor.BornAt!.Value, Start, Start + behaviour.Interval));
        Assert.All(model.Sensors, sensor => Assert.True(sensor.IsAlive));
    }

    [Fact]
    public void Flaky_sensors_fall_quiet_for_shorter_and_longer_than_the_threshold_and_recover()
    {
        var clock = new FakeTimeProvider(Start);
        var behaviour = new FleetBehaviour
        {
            Interval = TimeSpan.FromSeconds(5),
            Jitter = 0.1,
            SilenceThreshold = TimeSpan.FromSeconds(60),
            LifespanScale = TimeSpan.FromDays(365),
            FlakyShare = 0.5,
        };
        var model = new FleetModel(behaviour, new Random(3));
        for (var i = 0; i < 40; i++)
        {
            model.Add($"s{i}", clock.GetUtcNow());
        }

        var end = Start.AddHours(2);
        var beats = RunFor(model, clock, end - Start, TimeSpan.FromSeconds(1)).OfType<HeartbeatDue>().ToList();

        var flaky = model.Sensors.Where(sensor => sensor.Flaky).ToList();
        Assert.InRange(flaky.Count, 10, 30);
        foreach (var sensor in model.Sensors)
        {
            var gaps = Gaps(beats.Where(beat => beat.Sensor == sensor).ToList());
            var quiet = gaps.Where(gap => gap > behaviour.Interval * 1.1).ToList();
            if (!sensor.Flaky)
            {
                Assert.Empty(quiet);
                continue;
            }

            var threshold = behaviour.SilenceThreshold;
            Assert.All(quiet, gap => Assert.InRange(gap, threshold * 0.4, threshold * 3));
            Assert.Contains(quiet, gap => gap < threshold);
            Assert.Contains(quiet, gap => gap > threshold);
            // Every gap ends in a heartbeat, and the sensor still reports at the end.
            Assert.True(sensor.LastHeartbeatAt > end - (threshold * 3), $"{sensor.Id} stopped at {sensor.LastHeartbeatAt:O}");
            Assert.True(sensor.IsAlive);
        }
    }

    [Fact]
    public void With_replacement_the_crew_comes_to_a_dead_sensor_after_its_silence_alert()
    {
        var clock = new FakeTimeProvider(Start);
        var behaviour = new FleetBehaviour { LifespanScale = TimeSpan.FromSeconds(60), SilenceThreshold = TimeSpan.FromSeconds(30), Replace = true };
        var model = new FleetModel(behaviour, new Random(4));
        for (var i = 0; i < 20; i++)
        {
            model.Add($"s{i}", clock.GetUtcNow());
        }

        var events = RunFor(model, clock, TimeSpan.FromHours(1), TimeSpan.FromSeconds(1));

        Assert.All(model.Sensors, sensor =>
        {
            var replacement = Assert.Single(events.OfType<ReplacementDue>(), e => e.Sensor == sensor);
            Assert.True(sensor.Replaced);
            Assert.InRange(replacement.At, sensor.EndedAt!.Value, sensor.EndedAt.Value + (behaviour.SilenceThreshold * 2));
            Assert.InRange(replacement.At, sensor.DiedAt!.Value + behaviour.SilenceThreshold, DateTimeOffset.MaxValue);
        });
    }

    [Fact]
    public void Without_replacement_a_dead_sensor_stays_dead()
    {
        var clock = new FakeTimeProvider(Start);
        var model = new FleetModel(new FleetBehaviour { LifespanScale = TimeSpan.FromSeconds(60) }, new Random(5));
        for (var i = 0; i < 20; i++)
        {
            model.Add($"s{i}", clock.GetUtcNow());
        }

        var events = RunFor(model, clock, TimeSpan.FromHours(1), TimeSpan.FromSeconds(1));

        Assert.Empty(events.OfType<ReplacementDue>());
        Assert.All(model.Sensors, sensor => Assert.False(sensor.IsAlive));
    }

    [Fact]
    public void A_sensor_retired_by_an_operator_stops_and_is_replaced_at_once()
    {
        var clock = new FakeTimeProvider(Start);
        var model = new FleetModel(new FleetBehaviour { LifespanScale = TimeSpan.FromDays(1), Replace = true }, new Random(6));
        var sensor = model.Add("s0", clock.GetUtcNow());
        RunFor(model, clock, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1));
        var lastBeat = sensor.LastHeartbeatAt;

        model.Retired(sensor, clock.GetUtcNow());
        var after = RunFor(model, clock, TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(1));

        Assert.Equal(lastBeat, sensor.DiedAt);
        var replacement = Assert.Single(after);
        Assert.IsType<ReplacementDue>(replacement);
    }

    [Fact]
    public void Readings_drain_the_battery_over_the_sensors_life()
    {
        var clock = new FakeTimeProvider(Start);
        var model = new FleetModel(new FleetBehaviour { LifespanScale = TimeSpan.FromMinutes(30), LifespanShape = 20 }, new Random(7));
        var sensor = model.Add("s0", clock.GetUtcNow());

        var readings = RunFor(model, clock, TimeSpan.FromHours(2), TimeSpan.FromSeconds(1)).OfType<HeartbeatDue>().Select(beat => beat.Reading).ToList();

        Assert.InRange(readings[0].Battery, 0.9, 1.0);
        Assert.InRange(readings[^1].Battery, 0.04, 0.1);
        Assert.Equal(readings.Select(r => r.Battery).OrderByDescending(b => b), readings.Select(r => r.Battery));
        Assert.InRange(readings.Select(r => r.TemperatureC).Max() - readings.Select(r => r.TemperatureC).Min(), 0.5, 10);
        Assert.Equal(
            FormattableString.Invariant($$$"""{"metrics":{"battery":{{{readings[0].Battery:0.###}}},"temperatureC":{{{readings[0].TemperatureC:0.#}}}}}"""),
            System.Text.Encoding.UTF8.GetString(readings[0].ToBody()));
    }

    /// <summary>Moves the fake clock in steps and collects what the model says happened.</summary>
    private static List<FleetEvent> RunFor(FleetModel model, FakeTimeProvider clock, TimeSpan duration, TimeSpan step)
    {
        var events = new List<FleetEvent>();
        var end = clock.GetUtcNow() + duration;
        while (clock.GetUtcNow() < end)
        {
            clock.Advance(step);
            var now = clock.GetUtcNow();
            var due = model.Advance(now);
            Assert.All(due, e => Assert.InRange(e.At, now - step, now));
            events.AddRange(due);
        }

        return events;
    }

    /// <summary>The waits between consecutive heartbeats of each sensor.</summary>
    private static List<TimeSpan> Gaps(IEnumerable<HeartbeatDue> beats) =>
        [.. beats.GroupBy(beat => beat.Sensor).SelectMany(sensor => sensor.Zip(sensor.Skip(1), (a, b) => b.At - a.At))];
}
