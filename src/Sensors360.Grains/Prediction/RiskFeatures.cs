using MathNet.Numerics.Statistics;

namespace Sensors360.Grains.Prediction;

/// <summary>
/// What the failure model sees of a sensor at a moment (docs/analytics.md): its age, how regular its heartbeats
/// have been lately against its own typical interval, and how its metrics trend. Only heartbeats at or before
/// that moment are read, so a feature at a past cut-off never knows what came after it.
/// </summary>
/// <remarks>
/// The typical interval is the median interval over the three weeks that end a week before the moment, so a
/// failure that has been announcing itself for days does not hide in its own baseline; a younger sensor uses
/// every interval it has, and a sensor with fewer than five the fleet's median interval.
/// </remarks>
public sealed class RiskFeatures
{
    public const int Age = 0;
    public const int Silence = 1;
    public const int MissedShare1d = 2;
    public const int MissedShare7d = 3;
    public const int IntervalDrift1d = 4;
    public const int IntervalDrift7d = 5;
    public const int LateShare7d = 6;
    public const int LongestGap7d = 7;

    /// <summary>An interval this many times the typical one is late.</summary>
    public const double Late = 1.5;

    private const int Fixed = 8;
    private const int MinimumBaselineIntervals = 5;
    private const double Day = 86_400;
    private const double Week = 7 * Day;
    private const double BaselineFrom = 28 * Day;

    /// <summary>A trend beyond this many standard deviations says no more than this one does.</summary>
    private const double LargestTrend = 50;

    private static readonly string[] FixedNames =
        ["ageDays", "silence", "missedShare1d", "missedShare7d", "intervalDrift1d", "intervalDrift7d", "lateShare7d", "longestGap7d"];

    private readonly double _fleetInterval;
    private double[] _scratch = new double[256];

    /// <param name="metricKeys">The metrics whose trend is a feature, in the order the timelines hold them.</param>
    /// <param name="fleetIntervalSeconds">The fleet's median interval, for sensors with too few intervals of their own.</param>
    public RiskFeatures(IReadOnlyList<string> metricKeys, double fleetIntervalSeconds)
    {
        MetricKeys = [.. metricKeys];
        Names = [.. FixedNames, .. MetricKeys.Select(key => $"trend:{key}")];
        _fleetInterval = fleetIntervalSeconds > 0 ? fleetIntervalSeconds : 60;
    }

    /// <summary>How far back before a moment the features read: the baseline's start.</summary>
    public static TimeSpan Lookback { get; } = TimeSpan.FromSeconds(BaselineFrom);

    public string[] MetricKeys { get; }

    /// <summary>The features' names, in the order <see cref="Compute"/> writes them.</summary>
    public string[] Names { get; }

    public int Count => Names.Length;

    /// <summary>
    /// Writes the features of the sensor of <paramref name="timeline"/> at <paramref name="at"/> into
    /// <paramref name="features"/>. False when it has no heartbeat at or before then in the timeline.
    /// </summary>
    public bool Compute(HeartbeatTimeline timeline, double firstHeartbeatAt, double at, Span<float> features)
    {
        var count = timeline.CountUntil(at);
        if (count == 0)
        {
            return false;
        }

        var times = timeline.Times[..count];
        var typical = TypicalInterval(times, at);
        var openGap = at - times[^1];
        features[Age] = (float)(Math.Max(0, at - firstHeartbeatAt) / Day);
        features[Silence] = (float)(openGap / typical);

        var (missed1d, drift1d, _, _) = Window(times, firstHeartbeatAt, at, Day, typical, openGap);
        var (missed7d, drift7d, late7d, longest7d) = Window(times, firstHeartbeatAt, at, Week, typical, openGap);
        features[MissedShare1d] = (float)missed1d;
        features[MissedShare7d] = (float)missed7d;
        features[IntervalDrift1d] = (float)drift1d;
        features[IntervalDrift7d] = (float)drift7d;
        features[LateShare7d] = (float)late7d;
        features[LongestGap7d] = (float)longest7d;

        for (var m = 0; m < MetricKeys.Length; m++)
        {
            features[Fixed + m] = (float)Trend(times, timeline.Metric(m)[..count], at);
        }

        return true;
    }

    /// <summary>The median interval between heartbeats of the baseline window, or of all of them, or the fleet's.</summary>
    private double TypicalInterval(ReadOnlySpan<double> times, double at)
    {
        var from = CountUntil(times, at - BaselineFrom);
        var to = CountUntil(times, at - Week);
        if (to - from - 1 < MinimumBaselineIntervals)
        {
            (from, to) = (0, times.Length);
        }

        var intervals = to - from - 1;
        if (intervals < MinimumBaselineIntervals)
        {
            return _fleetInterval;
        }

        if (_scratch.Length < intervals)
        {
            _scratch = new double[Math.Max(intervals, _scratch.Length * 2)];
        }

        for (var i = 0; i < intervals; i++)
        {
            _scratch[i] = times[from + i + 1] - times[from + i];
        }

        Array.Sort(_scratch, 0, intervals);
        var middle = intervals / 2;
        var median = intervals % 2 == 1 ? _scratch[middle] : (_scratch[middle - 1] + _scratch[middle]) / 2;
        return median > 0 ? median : _fleetInterval;
    }

    /// <summary>
    /// Over the <paramref name="length"/> before <paramref name="at"/> (or the sensor's whole life, if shorter): the
    /// share of expected heartbeats that did not come, the mean interval, the share of late intervals and the longest
    /// gap, all against the typical interval. The gap still open at <paramref name="at"/> counts as an interval.
    /// </summary>
    private static (double Missed, double Drift, double LateShare, double LongestGap) Window(
        ReadOnlySpan<double> times, double firstHeartbeatAt, double at, double length, double typical, double openGap)
    {
        var start = Math.Max(at - length, firstHeartbeatAt);
        var expected = Math.Floor((at - start) / typical);
        var first = CountUntil(times, start);
        var beats = times.Length - first;
        var missed = expected < 1 ? 0 : Math.Clamp(1 - (beats / expected), 0, 1);

        // The intervals that end in the window, each from the heartbeat before it (which may precede the window).
        double sum = 0, longest = 0;
        int intervals = 0, late = 0;
        for (var i = Math.Max(first, 1); i < times.Length; i++)
        {
            var interval = times[i] - times[i - 1];
            sum += interval;
            longest = Math.Max(longest, interval);
            late += interval > Late * typical ? 1 : 0;
            intervals++;
        }

        if (openGap > typical)
        {
            sum += openGap;
            longest = Math.Max(longest, openGap);
            late += openGap > Late * typical ? 1 : 0;
            intervals++;
        }

        return intervals == 0
            ? (missed, 1, 0, 0)
            : (missed, sum / intervals / typical, (double)late / intervals, longest / typical);
    }

    /// <summary>
    /// How far the metric's mean over the last day moved from its mean over the baseline window (or over everything
    /// before the last day), in the baseline's standard deviations; 0 without values on both sides.
    /// </summary>
    private static double Trend(ReadOnlySpan<double> times, ReadOnlySpan<float> values, double at)
    {
        var recentFrom = CountUntil(times, at - Day);
        var baseFrom = CountUntil(times, at - BaselineFrom);
        var baseTo = CountUntil(times, at - Week);
        var (baseMean, baseSd, baseCount) = Moments(values[baseFrom..baseTo]);
        if (baseCount < MinimumBaselineIntervals)
        {
            (baseMean, baseSd, baseCount) = Moments(values[..recentFrom]);
        }

        var (recentMean, _, recentCount) = Moments(values[recentFrom..]);
        if (baseCount == 0 || recentCount == 0)
        {
            return 0;
        }

        var spread = baseSd + (1e-6 * Math.Abs(baseMean)) + 1e-9;
        return Math.Clamp((recentMean - baseMean) / spread, -LargestTrend, LargestTrend);
    }

    private static (double Mean, double StandardDeviation, int Count) Moments(ReadOnlySpan<float> values)
    {
        var statistics = new RunningStatistics();
        foreach (var value in values)
        {
            if (!float.IsNaN(value))
            {
                statistics.Push(value);
            }
        }

        return statistics.Count == 0
            ? (0, 0, 0)
            : (statistics.Mean, statistics.Count > 1 ? statistics.PopulationStandardDeviation : 0, (int)statistics.Count);
    }

    private static int CountUntil(ReadOnlySpan<double> times, double at) => HeartbeatTimeline.CountUntil(times, at);
}
