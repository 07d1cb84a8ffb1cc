namespace Sensors360.Grains.Uptime;

/// <summary>A stretch a sensor was down: one of its silence alerts (kind: silent or never-reported), clipped to the window and its life.</summary>
public sealed record Downtime(DateTimeOffset From, DateTimeOffset To, string Kind);

/// <summary>
/// One UTC day of a sensor: how long it was monitored (alive, not paused, not in maintenance), how much of that it
/// was down, and the uptime percent of the monitored time (null when it was not monitored at all that day).
/// </summary>
public sealed record UptimeDay(DateOnly Day, double? UptimePercent, double DownSeconds, double MonitoredSeconds);

/// <summary>A sensor's uptime over the last <see cref="Days"/> UTC days (the last one up to <see cref="To"/>).</summary>
public sealed record SensorUptime(
    string SensorId, int Days, DateTimeOffset From, DateTimeOffset To, double? UptimePercent, double DownSeconds, double MonitoredSeconds,
    IReadOnlyList<Downtime> Downtime, IReadOnlyList<UptimeDay> Buckets);

/// <summary>
/// One UTC day of the fleet: sensor-seconds up ÷ sensor-seconds monitored × 100 (null when none was monitored), and
/// how many sensors were monitored that day.
/// </summary>
public sealed record FleetUptimeDay(DateOnly Day, double? UptimePercent, int Sensors, double DownSeconds, double MonitoredSeconds);

public sealed record FleetUptime(int Days, DateTimeOffset From, DateTimeOffset To, double? UptimePercent, IReadOnlyList<FleetUptimeDay> Buckets);

/// <summary>
/// What uptime is computed from, for one sensor: its life (provisioning to retirement or now), its alerts' down
/// stretches (silent since → resolved, or now), and the stretches it was paused (own pauses, maintenance windows
/// of its tags), which count as neither up nor down.
/// </summary>
public sealed record UptimeHistory(
    DateTimeOffset CreatedAt, DateTimeOffset? RetiredAt, IReadOnlyList<Downtime> Alerts, IReadOnlyList<TimeSpanOf> Paused);

/// <summary>The rules of uptime, apart from the SQL that gathers its history.</summary>
public static class UptimeCalculation
{
    /// <summary>The first instant of the window of <paramref name="days"/> UTC days ending with the day of <paramref name="now"/>.</summary>
    public static DateTimeOffset WindowStart(DateTimeOffset now, int days) =>
        new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero).AddDays(-(days - 1));

    /// <summary>What was monitored of <paramref name="history"/> in [from, to), and what of it was down.</summary>
    public static (SpanSet Monitored, SpanSet Down) Split(UptimeHistory history, DateTimeOffset from, DateTimeOffset to)
    {
        var lifeEnd = history.RetiredAt is { } retired && retired < to ? retired : to;
        var monitored = SpanSet.Of(history.CreatedAt > from ? history.CreatedAt : from, lifeEnd).Except(SpanSet.Of(history.Paused));
        var down = SpanSet.Of(history.Alerts.Select(alert => new TimeSpanOf(alert.From, alert.To))).Intersect(monitored);
        return (monitored, down);
    }

    public static SensorUptime ForSensor(string sensorId, UptimeHistory history, int days, DateTimeOffset now)
    {
        var from = WindowStart(now, days);
        var (monitored, down) = Split(history, from, now);
        var buckets = new List<UptimeDay>(days);
        for (var day = from; day < now; day = day.AddDays(1))
        {
            var end = day.AddDays(1) < now ? day.AddDays(1) : now;
            buckets.Add(Day(DateOnly.FromDateTime(day.UtcDateTime), monitored.LengthWithin(day, end), down.LengthWithin(day, end)));
        }

        var lifeEnd = history.RetiredAt is { } retired && retired < now ? retired : now;
        var lifeStart = history.CreatedAt > from ? history.CreatedAt : from;
        var downtime = history.Alerts
            .Select(alert => alert with { From = Later(alert.From, lifeStart), To = Earlier(alert.To, lifeEnd) })
            .Where(alert => alert.To > alert.From)
            .OrderBy(alert => alert.From)
            .ToList();
        var whole = Day(default, monitored.LengthWithin(from, now), down.LengthWithin(from, now));
        return new SensorUptime(sensorId, days, from, now, whole.UptimePercent, whole.DownSeconds, whole.MonitoredSeconds, downtime, buckets);
    }

    public static FleetUptime ForFleet(IEnumerable<UptimeHistory> sensors, int days, DateTimeOffset now)
    {
        var from = WindowStart(now, days);
        var monitoredSeconds = new double[days];
        var downSeconds = new double[days];
        var counted = new int[days];
        foreach (var history in sensors)
        {
            var (monitored, down) = Split(history, from, now);
            for (var i = 0; i < days; i++)
            {
                var day = from.AddDays(i);
                var end = day.AddDays(1) < now ? day.AddDays(1) : now;
                var m = monitored.LengthWithin(day, end).TotalSeconds;
                if (m > 0)
                {
                    monitoredSeconds[i] += m;
                    downSeconds[i] += down.LengthWithin(day, end).TotalSeconds;
                    counted[i]++;
                }
            }
        }

        var buckets = Enumerable.Range(0, days)
            .Select(i => new FleetUptimeDay(
                DateOnly.FromDateTime(from.AddDays(i).UtcDateTime), Percent(monitoredSeconds[i], downSeconds[i]), counted[i],
                Math.Round(downSeconds[i], 3), Math.Round(monitoredSeconds[i], 3)))
            .ToList();
        return new FleetUptime(days, from, now, Percent(monitoredSeconds.Sum(), downSeconds.Sum()), buckets);
    }

    private static UptimeDay Day(DateOnly day, TimeSpan monitored, TimeSpan down) =>
        new(day, Percent(monitored.TotalSeconds, down.TotalSeconds), Math.Round(down.TotalSeconds, 3), Math.Round(monitored.TotalSeconds, 3));

    private static double? Percent(double monitoredSeconds, double downSeconds) =>
        monitoredSeconds > 0 ? Math.Round((monitoredSeconds - downSeconds) * 100 / monitoredSeconds, 3) : null;

    private static DateTimeOffset Later(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static DateTimeOffset Earlier(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
