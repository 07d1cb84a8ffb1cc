using Sensors360.Grains.Uptime;

namespace Sensors360.Grains.Tests.Uptime;

/// <summary>Uptime from hand-worked histories: every expected number below is worked out in its comment.</summary>
public sealed class UptimeCalculationTests
{
    // Today is 2026-12-03; "now" is 06:00 UTC, so today counts 6 hours.
    private static readonly DateTimeOffset Now = At(3, 6);

    [Fact]
    public void Alerts_count_down_within_the_sensors_life_and_paused_time_counts_neither_way()
    {
        // Provisioned Dec 1 06:00. Alerts: Dec 1 12:00–13:00 and Dec 2 04:00–08:00 (overlapping one of 07:00–07:30).
        // Paused Dec 2 00:00–06:00; a maintenance window Dec 1 20:00–22:00.
        var history = new UptimeHistory(
            At(1, 6),
            RetiredAt: null,
            [Alert(At(1, 12), At(1, 13)), Alert(At(2, 4), At(2, 8)), Alert(At(2, 7), At(2, 7.5))],
            [new TimeSpanOf(At(2, 0), At(2, 6)), new TimeSpanOf(At(1, 20), At(1, 22))]);

        var uptime = UptimeCalculation.ForSensor("s", history, days: 3, Now);

        Assert.Equal(At(1, 0), uptime.From);
        Assert.Equal(["2026-12-01", "2026-12-02", "2026-12-03"], uptime.Buckets.Select(day => day.Day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)));
        // Dec 1: monitored 06:00–24:00 less 20:00–22:00 = 16 h = 57,600 s; down 1 h = 3,600 s; up 54,000 / 57,600 = 93.75%.
        Assert.Equal(new UptimeDay(new DateOnly(2026, 12, 1), 93.75, 3600, 57600), uptime.Buckets[0]);
        // Dec 2: monitored 06:00–24:00 = 64,800 s; down 06:00–08:00 (the pause hides 04:00–06:00) = 7,200 s;
        // up 57,600 / 64,800 = 88.888…% → 88.889.
        Assert.Equal(new UptimeDay(new DateOnly(2026, 12, 2), 88.889, 7200, 64800), uptime.Buckets[1]);
        // Dec 3 until now: 6 h = 21,600 s monitored, nothing down.
        Assert.Equal(new UptimeDay(new DateOnly(2026, 12, 3), 100, 0, 21600), uptime.Buckets[2]);
        // Whole window: 57,600 + 64,800 + 21,600 = 144,000 s monitored, 10,800 s down: 133,200 / 144,000 = 92.5%.
        Assert.Equal(92.5, uptime.UptimePercent);
        Assert.Equal(10800, uptime.DownSeconds);
        Assert.Equal(144000, uptime.MonitoredSeconds);
        // The downtime spans are the alerts as they were (clipped to window and life only), oldest first.
        Assert.Equal([At(1, 12), At(2, 4), At(2, 7)], uptime.Downtime.Select(span => span.From));
    }

    [Fact]
    public void A_retired_sensor_is_not_monitored_after_its_retirement_and_an_open_alert_runs_until_now()
    {
        // Retired Dec 2 12:00; an alert Dec 2 10:00 to retirement (resolved at it).
        var retired = new UptimeHistory(At(-5, 0), At(2, 12), [Alert(At(2, 10), At(2, 12))], []);
        var days = UptimeCalculation.ForSensor("r", retired, days: 3, Now).Buckets;
        // Dec 1 whole: 100%. Dec 2: 12 h monitored, 2 h down: 10/12 = 83.333%. Dec 3: not monitored.
        Assert.Equal(100, days[0].UptimePercent);
        Assert.Equal(new UptimeDay(new DateOnly(2026, 12, 2), 83.333, 7200, 43200), days[1]);
        Assert.Equal(new UptimeDay(new DateOnly(2026, 12, 3), null, 0, 0), days[2]);

        // An alert still open is down until now (the store reads its end as now): today 0%, yesterday from 18:00.
        var open = new UptimeHistory(At(-5, 0), null, [Alert(At(2, 18), Now)], []);
        var openDays = UptimeCalculation.ForSensor("o", open, days: 2, Now).Buckets;
        Assert.Equal(75, openDays[0].UptimePercent);
        Assert.Equal(0, openDays[1].UptimePercent);
    }

    [Fact]
    public void The_fleet_day_is_sensor_seconds_up_over_sensor_seconds_monitored()
    {
        // A: whole day Dec 2, down 2 h. B: provisioned Dec 2 12:00, down 6 h. C: retired before the window: not counted.
        var a = new UptimeHistory(At(-5, 0), null, [Alert(At(2, 1), At(2, 3))], []);
        var b = new UptimeHistory(At(2, 12), null, [Alert(At(2, 18), At(3, 0))], []);
        var c = new UptimeHistory(At(-9, 0), At(-8, 0), [], []);
        var fleet = UptimeCalculation.ForFleet([a, b, c], days: 2, Now);

        // Dec 2: monitored 86,400 + 43,200 = 129,600 s; down 7,200 + 21,600 = 28,800 s; up 100,800 / 129,600 = 77.778%.
        Assert.Equal(new FleetUptimeDay(new DateOnly(2026, 12, 2), 77.778, 2, 28800, 129600), fleet.Buckets[0]);
        // Dec 3 until 06:00: both monitored 6 h, neither down.
        Assert.Equal(new FleetUptimeDay(new DateOnly(2026, 12, 3), 100, 2, 0, 43200), fleet.Buckets[1]);
    }

    [Fact]
    public void Span_sets_merge_cut_and_intersect()
    {
        var set = SpanSet.Of([new TimeSpanOf(At(1, 0), At(1, 4)), new TimeSpanOf(At(1, 2), At(1, 6)), new TimeSpanOf(At(1, 8), At(1, 9))]);
        Assert.Equal([new TimeSpanOf(At(1, 0), At(1, 6)), new TimeSpanOf(At(1, 8), At(1, 9))], set.Spans);
        var cut = set.Except(SpanSet.Of([new TimeSpanOf(At(1, 1), At(1, 2)), new TimeSpanOf(At(1, 5), At(1, 8.5))]));
        Assert.Equal([new TimeSpanOf(At(1, 0), At(1, 1)), new TimeSpanOf(At(1, 2), At(1, 5)), new TimeSpanOf(At(1, 8.5), At(1, 9))], cut.Spans);
        Assert.Equal(TimeSpan.FromHours(4.5), cut.LengthWithin(At(1, 0), At(2, 0)));
        Assert.Equal([new TimeSpanOf(At(1, 3), At(1, 5))], cut.Intersect(SpanSet.Of(At(1, 3), At(1, 7))).Spans);
    }

    private static Downtime Alert(DateTimeOffset from, DateTimeOffset to) => new(from, to, "silent");

    /// <summary>December 2026, day <paramref name="day"/> (0 and below run back into November) at <paramref name="hours"/> UTC.</summary>
    private static DateTimeOffset At(int day, double hours) =>
        new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero).AddDays(day - 1).AddHours(hours);
}
