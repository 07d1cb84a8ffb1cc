namespace Sensors360.Grains.Prediction;

/// <summary>
/// One sensor's heartbeats over a stretch of time, in time order: when each came (seconds since the Unix epoch)
/// and the value of each chosen metric (NaN where the heartbeat did not carry it). Reused from sensor to sensor
/// by <see cref="HeartbeatTimelineStore"/>, so a scan of the fleet allocates once.
/// </summary>
public sealed class HeartbeatTimeline
{
    private double[] _times = new double[256];
    private readonly float[][] _metrics;

    public HeartbeatTimeline(int metricCount)
    {
        _metrics = new float[metricCount][];
        for (var m = 0; m < metricCount; m++)
        {
            _metrics[m] = new float[_times.Length];
        }
    }

    /// <summary>The sensor's row id.</summary>
    public long SensorKey { get; private set; }

    public int Count { get; private set; }

    public int MetricCount => _metrics.Length;

    public ReadOnlySpan<double> Times => _times.AsSpan(0, Count);

    public ReadOnlySpan<float> Metric(int metric) => _metrics[metric].AsSpan(0, Count);

    /// <summary>Starts the timeline of another sensor.</summary>
    public void Reset(long sensorKey)
    {
        SensorKey = sensorKey;
        Count = 0;
    }

    /// <summary>Adds a heartbeat later than every one before it; <paramref name="metrics"/> holds one value per chosen metric.</summary>
    public void Add(double at, ReadOnlySpan<float> metrics)
    {
        if (Count == _times.Length)
        {
            Array.Resize(ref _times, _times.Length * 2);
            for (var m = 0; m < _metrics.Length; m++)
            {
                Array.Resize(ref _metrics[m], _times.Length);
            }
        }

        _times[Count] = at;
        for (var m = 0; m < _metrics.Length; m++)
        {
            _metrics[m][Count] = metrics[m];
        }

        Count++;
    }

    /// <summary>How many heartbeats came at or before <paramref name="at"/>.</summary>
    public int CountUntil(double at) => CountUntil(Times, at);

    /// <summary>How many of the ascending, distinct <paramref name="times"/> are at or before <paramref name="at"/>.</summary>
    public static int CountUntil(ReadOnlySpan<double> times, double at)
    {
        // BinarySearch finds an exact match or the complement of the first later one.
        var index = times.BinarySearch(at);
        return index >= 0 ? index + 1 : ~index;
    }
}
