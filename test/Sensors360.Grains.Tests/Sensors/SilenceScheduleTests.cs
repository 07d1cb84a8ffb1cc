using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>The silo's one silence timer: wake-ups in due order, moved and disarmed ones dropped, on a fake clock.</summary>
public sealed class SilenceScheduleTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 6, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _clock = new(Start);
    private readonly SilenceSchedule _schedule;
    private readonly List<string> _woken = [];

    public SilenceScheduleTests() =>
        _schedule = new SilenceSchedule(_clock, Options.Create(new MonitoringOptions()), NullLogger<SilenceSchedule>.Instance);

    public void Dispose() => _schedule.Dispose();

    [Fact]
    public void Wake_ups_come_in_due_order_each_at_its_moment_not_before()
    {
        var late = Wakeup("late");
        var early = Wakeup("early");
        var middle = Wakeup("middle");
        late.Arm(Start.AddSeconds(30));
        early.Arm(Start.AddSeconds(10));
        middle.Arm(Start.AddSeconds(20));

        _clock.Advance(TimeSpan.FromSeconds(9.999));
        Assert.Empty(_woken);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(["early"], _woken);
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(["early", "middle"], _woken);
        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(["early", "middle", "late"], _woken);
    }

    [Fact]
    public void Many_wake_ups_due_together_all_come_in_one_pass_in_due_order()
    {
        var wakeups = Enumerable.Range(0, 1000).Select(i => (At: Start.AddMilliseconds(997 * i % 1000), Wakeup: Wakeup($"{997 * i % 1000:D4}"))).ToList();
        foreach (var (at, wakeup) in wakeups)
        {
            wakeup.Arm(at);
        }

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1000, _woken.Count);
        Assert.Equal(_woken.Order(StringComparer.Ordinal), _woken);
        Assert.Equal(0, _schedule.Count);
    }

    [Fact]
    public void A_moved_wake_up_comes_only_at_its_new_moment_earlier_or_later()
    {
        var later = Wakeup("later");
        var sooner = Wakeup("sooner");
        later.Arm(Start.AddSeconds(10));
        sooner.Arm(Start.AddSeconds(60));

        // A heartbeat moves the deadline on (only force moves an armed wake-up later); an earlier moment brings one forward.
        later.Arm(Start.AddSeconds(40));
        Assert.Equal(Start.AddSeconds(10), later.Due);
        later.Arm(Start.AddSeconds(40), force: true);
        sooner.Arm(Start.AddSeconds(5));
        Assert.Equal(Start.AddSeconds(5), sooner.Due);

        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(["sooner"], _woken);
        _clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(["sooner"], _woken);
        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(["sooner", "later"], _woken);
        _clock.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(["sooner", "later"], _woken);
    }

    [Fact]
    public void A_disarmed_wake_up_never_comes_and_one_armed_again_comes_once()
    {
        var retired = Wakeup("retired");
        var resumed = Wakeup("resumed");
        retired.Arm(Start.AddSeconds(10));
        resumed.Arm(Start.AddSeconds(10));
        retired.Disarm();
        resumed.Disarm();
        Assert.Null(resumed.Due);
        resumed.Arm(Start.AddSeconds(20));

        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(["resumed"], _woken);
    }

    [Fact]
    public void A_wake_up_stays_armed_after_it_came_until_the_woken_re_arms_it()
    {
        var sensor = Wakeup("sensor");
        sensor.Arm(Start.AddSeconds(10));
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(["sensor"], _woken);

        // Heartbeats meanwhile do not add wake-ups; the woken grain's judgement re-arms it.
        sensor.Arm(Start.AddSeconds(30));
        _clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(["sensor"], _woken);
        sensor.Arm(Start.AddSeconds(50), force: true);
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(["sensor", "sensor"], _woken);
    }

    [Fact]
    public void A_wake_up_already_due_comes_at_once()
    {
        _clock.Advance(TimeSpan.FromMinutes(1));
        Wakeup("overdue").Arm(Start);
        _clock.Advance(TimeSpan.Zero);
        Assert.Equal(["overdue"], _woken);
    }

    [Fact]
    public void A_wake_up_added_after_the_clock_jumped_past_the_timer_brings_every_due_one()
    {
        Wakeup("before").Arm(Start.AddSeconds(10));
        // A clock set by hand fires nothing; the next wake-up added finds the timer late and sets it again.
        _clock.AdjustTime(Start.AddMinutes(1));
        Assert.Empty(_woken);
        Wakeup("after").Arm(Start.AddSeconds(20));
        Assert.Equal(["before", "after"], _woken);
    }

    private Recorded Wakeup(string name) => new(_schedule, name, _woken);

    private sealed class Recorded(SilenceSchedule schedule, string name, List<string> woken) : SilenceWakeup(schedule)
    {
        protected override void Wake() => woken.Add(name);
    }
}
