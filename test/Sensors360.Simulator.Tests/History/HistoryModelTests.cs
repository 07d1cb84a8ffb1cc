using System.Globalization;
using System.Text.Json;
using Sensors360.Simulator.History;

namespace Sensors360.Simulator.Tests.History;

/// <summary>The history's failure model, checked statistically over many sensors with fixed seeds.</summary>
public sealed class HistoryModelTests
{
    private static readonly DateTimeOffset End = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Endings_follow_the_shares_when_every_sensor_dies_within_the_history()
    {
        // Lifespans of about a month in a history of 400 days: no sensor outlives it.
        var options = new HistoryOptions
        {
            Sensors = 3000,
            End = End,
            Span = TimeSpan.FromDays(400),
            InstallOver = TimeSpan.FromDays(10),
            Interval = TimeSpan.FromHours(12),
            LifespanShape = 2,
            LifespanScale = TimeSpan.FromDays(30),
            DecommissionedShare = 0.1,
            AnnouncingShare = 0.4,
            FlakyShare = 0.2,
            Seed = 11,
        };

        var truth = HistoryReadBack.TruthOnly(options);

        Assert.DoesNotContain(truth, row => row.Cause == "alive");
        var failed = truth.Where(row => row.Cause == "failed").ToList();
        // Binomial standard errors here are 0.005–0.01; the tolerances are about four of them.
        Assert.InRange(truth.Count(row => row.Cause == "decommissioned") / (double)truth.Count, 0.08, 0.12);
        Assert.InRange(failed.Count(row => row.Announced) / (double)failed.Count, 0.36, 0.44);
        Assert.InRange(truth.Count(row => row.Flaky) / (double)truth.Count, 0.17, 0.23);
        // A decommissioned sensor is taken out before its drawn death.
        Assert.All(truth.Where(row => row.Cause == "decommissioned"), row =>
            Assert.True((row.DiedAt!.Value - row.InstalledAt).TotalSeconds < row.TrueLifespanSeconds, row.Id));
    }

    [Fact]
    public void The_share_alive_at_the_end_is_what_the_lifespans_and_installations_predict()
    {
        // Exponential lifespans (mean λ) and installations uniform over W, the first one S before the end:
        // P(alive) = (1/W)∫₀^W exp(−(S − u)/λ) du = (λ/W)(exp(−(S − W)/λ) − exp(−S/λ)).
        const double Lambda = 100, S = 150, W = 100;
        var options = new HistoryOptions
        {
            Sensors = 4000,
            End = End,
            Span = TimeSpan.FromDays(S),
            InstallOver = TimeSpan.FromDays(W),
            Interval = TimeSpan.FromDays(1),
            LifespanShape = 1,
            LifespanScale = TimeSpan.FromDays(Lambda),
            DecommissionedShare = 0,
            Seed = 12,
        };
        var expected = Lambda / W * (Math.Exp(-(S - W) / Lambda) - Math.Exp(-S / Lambda));

        var truth = HistoryReadBack.TruthOnly(options);

        // The standard error is about 0.008.
        Assert.InRange(truth.Count(row => row.Cause == "alive") / (double)truth.Count, expected - 0.03, expected + 0.03);
        // The drawn lifespans are kept for every sensor, censored or not: their mean is λ (standard error 1.6 %).
        Assert.InRange(truth.Average(row => row.TrueLifespanSeconds) / 86400, Lambda * 0.94, Lambda * 1.06);
        // An alive sensor was drawn to live past the end.
        Assert.All(truth.Where(row => row.Cause == "alive"), row =>
            Assert.True(row.InstalledAt.AddSeconds(row.TrueLifespanSeconds) > End, row.Id));
    }

    [Fact]
    public void Announcing_failures_show_rising_gaps_before_death_and_abrupt_ones_do_not()
    {
        var options = new HistoryOptions
        {
            Sensors = 240,
            End = End,
            Span = TimeSpan.FromDays(60),
            InstallOver = TimeSpan.FromDays(10),
            Interval = TimeSpan.FromMinutes(5),
            LifespanShape = 2,
            LifespanScale = TimeSpan.FromDays(10),
            DecommissionedShare = 0,
            AnnouncingShare = 0.5,
            // Flaky sensors are mixed in on purpose: their missed beats must not look like a precursor.
            FlakyShare = 0.3,
            Precursor = TimeSpan.FromDays(2),
            Seed = 13,
        };
        var history = HistoryReadBack.Generate(options);
        var beats = history.BeatsBySensor();

        // Each failure's median gap over its last 12 hours against its own median before its last 4 days.
        // Precursors last 1–3 days, so the last 12 hours are at least halfway through one.
        var ratios = history.Truth
            .Where(row => row.Cause == "failed" && row.LifespanSeconds > TimeSpan.FromDays(6).TotalSeconds)
            .Select(row =>
            {
                var died = row.DiedAt!.Value;
                var own = beats[row.Id];
                var baseline = MedianGap(own.Where(at => at < died - TimeSpan.FromDays(4)));
                var recent = MedianGap(own.Where(at => at >= died - TimeSpan.FromHours(12)));
                return (row.Announced, Ratio: recent / baseline);
            })
            .ToList();
        var announced = ratios.Where(r => r.Announced).Select(r => r.Ratio).ToList();
        var abrupt = ratios.Where(r => !r.Announced).Select(r => r.Ratio).ToList();

        Assert.True(announced.Count >= 40 && abrupt.Count >= 40, $"{announced.Count} announced and {abrupt.Count} abrupt failures to compare");
        Assert.True(announced.Count(ratio => ratio > 1.3) >= 0.9 * announced.Count, $"announced ratios: {Show(announced)}");
        Assert.True(abrupt.Count(ratio => ratio > 1.3) <= 0.05 * abrupt.Count, $"abrupt ratios: {Show(abrupt)}");
        Assert.True(abrupt.Average() < 1.1, $"abrupt ratios: {Show(abrupt)}");
    }

    [Fact]
    public void Flaky_sensors_fall_quiet_all_their_life_and_steady_ones_never_do()
    {
        var options = new HistoryOptions
        {
            Sensors = 200,
            End = End,
            Span = TimeSpan.FromDays(90),
            InstallOver = TimeSpan.FromDays(30),
            Interval = TimeSpan.FromHours(1),
            Jitter = 0.1,
            LifespanScale = TimeSpan.FromDays(120),
            AnnouncingShare = 0,
            FlakyShare = 0.3,
            Seed = 14,
        };
        var history = HistoryReadBack.Generate(options);
        var beats = history.BeatsBySensor();
        static List<double> GapsInHours(List<DateTimeOffset> own) => [.. own.Zip(own.Skip(1)).Select(pair => (pair.Second - pair.First).TotalHours)];

        var flaky = history.Truth.Where(row => row.Flaky).ToList();
        var steady = history.Truth.Where(row => !row.Flaky).ToList();
        Assert.All(steady, row => Assert.All(GapsInHours(beats[row.Id]), gap => Assert.InRange(gap, 0.9, 1.1 + 1e-6)));
        // Flaky sensors alive at the end fall quiet too, so silence alone does not mean death; and their
        // gaps come early in life as well as late.
        var flakyAlive = flaky.Where(row => row.Cause == "alive" && row.LifespanSeconds > TimeSpan.FromDays(40).TotalSeconds).ToList();
        Assert.True(flakyAlive.Count >= 10, $"{flakyAlive.Count} long-lived flaky sensors alive at the end");
        Assert.All(flakyAlive, row =>
        {
            var own = beats[row.Id];
            var middle = row.InstalledAt.AddSeconds(row.LifespanSeconds / 2);
            var firstHalf = GapsInHours([.. own.Where(at => at <= middle)]);
            var secondHalf = GapsInHours([.. own.Where(at => at > middle)]);
            Assert.Contains(firstHalf, gap => gap > 1.5);
            Assert.Contains(secondHalf, gap => gap > 1.5);
        });
    }

    [Fact]
    public void The_battery_does_not_tell_when_a_sensor_dies()
    {
        var options = new HistoryOptions
        {
            Sensors = 300,
            End = End,
            Span = TimeSpan.FromDays(200),
            InstallOver = TimeSpan.FromDays(20),
            Interval = TimeSpan.FromHours(6),
            LifespanScale = TimeSpan.FromDays(60),
            Seed = 15,
        };
        var history = HistoryReadBack.Generate(options);
        var lastBattery = new Dictionary<string, double>(StringComparer.Ordinal);
        var lowest = double.MaxValue;
        foreach (var line in history.Lines())
        {
            using var json = JsonDocument.Parse(line);
            var battery = json.RootElement.GetProperty("metrics").GetProperty("battery").GetDouble();
            lastBattery[json.RootElement.GetProperty("sensor").GetString()!] = battery;
            lowest = Math.Min(lowest, battery);
        }

        // Batteries are swapped when low, never run flat, and at death they are anywhere in their range.
        Assert.True(lowest > 0.05, $"lowest battery {lowest.ToString(CultureInfo.InvariantCulture)}");
        var atDeath = history.Truth.Where(row => row.Cause == "failed").Select(row => lastBattery[row.Id]).ToList();
        Assert.True(atDeath.Count >= 100, $"{atDeath.Count} failures");
        var mean = atDeath.Average();
        var deviation = Math.Sqrt(atDeath.Average(battery => (battery - mean) * (battery - mean)));
        Assert.True(deviation > 0.1, $"batteries at death: mean {mean:0.000}, deviation {deviation:0.000}");
        Assert.True(atDeath.Count(battery => battery < 0.15) < 0.2 * atDeath.Count, "most batteries were near empty at death");
    }

    private static double MedianGap(IEnumerable<DateTimeOffset> times)
    {
        var list = times.ToList();
        var gaps = list.Zip(list.Skip(1)).Select(pair => (pair.Second - pair.First).TotalSeconds).Order().ToList();
        Assert.NotEmpty(gaps);
        return gaps.Count % 2 == 1 ? gaps[gaps.Count / 2] : (gaps[(gaps.Count / 2) - 1] + gaps[gaps.Count / 2]) / 2;
    }

    private static string Show(IEnumerable<double> ratios) => string.Join(' ', ratios.Order().Select(ratio => ratio.ToString("0.00", CultureInfo.InvariantCulture)));
}
