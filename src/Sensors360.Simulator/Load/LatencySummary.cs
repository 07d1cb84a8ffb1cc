using HdrHistogram;

namespace Sensors360.Simulator.Load;

/// <summary>Percentiles of a latency histogram, in milliseconds (recorded in microseconds, 3 significant digits).</summary>
internal sealed record LatencySummary(long Count, double P50, double P90, double P99, double P999, double Max, double Mean)
{
    /// <summary>The largest latency recorded exactly; longer ones count as this.</summary>
    public const long HighestMicroseconds = 3_600_000_000;

    public static LongHistogram NewHistogram() => new(HighestMicroseconds, 3);

    /// <summary>A histogram many threads record into while another takes what was recorded since it last looked.</summary>
    public static Recorder NewRecorder() => new(1, HighestMicroseconds, 3, (id, lowest, highest, digits) => new LongHistogram(id, lowest, highest, digits));

    public static LatencySummary Of(HistogramBase histogram) => histogram.TotalCount == 0
        ? new LatencySummary(0, 0, 0, 0, 0, 0, 0)
        : new LatencySummary(
            histogram.TotalCount,
            Milliseconds(histogram.GetValueAtPercentile(50)),
            Milliseconds(histogram.GetValueAtPercentile(90)),
            Milliseconds(histogram.GetValueAtPercentile(99)),
            Milliseconds(histogram.GetValueAtPercentile(99.9)),
            Milliseconds(histogram.GetMaxValue()),
            Math.Round(histogram.GetMean() / 1000.0, 3));

    private static double Milliseconds(long microseconds) => microseconds / 1000.0;
}
