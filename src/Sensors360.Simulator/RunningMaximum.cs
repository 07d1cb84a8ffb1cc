namespace Sensors360.Simulator;

/// <summary>A maximum that many concurrent sends raise without a lock (the latest answer, the slowest one).</summary>
internal static class RunningMaximum
{
    /// <summary>Sets <paramref name="location"/> to <paramref name="value"/> if that is larger, atomically.</summary>
    public static void Raise(ref long location, long value)
    {
        var current = Interlocked.Read(ref location);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
