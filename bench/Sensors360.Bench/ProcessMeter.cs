using System.Globalization;

namespace Sensors360.Bench;

/// <summary>CPU time and peak resident memory of another process, read from Linux's /proc.</summary>
internal sealed class ProcessMeter(int pid)
{
    private static readonly double TicksPerSecond = 100; // USER_HZ, 100 on every Linux we run on

    /// <summary>Seconds of CPU (user + system) the process has used so far.</summary>
    public double CpuSeconds()
    {
        // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
    }

    /// <summary>Resets the peak resident set size, so the next <see cref="PeakResidentBytes"/> covers one run only.</summary>
    public void ResetPeak()
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            // Not permitted here: the peak then covers the process's whole life, which the report says.
            PeakIsLifetime = true;
        }
    }

    public bool PeakIsLifetime { get; private set; }

    public long PeakResidentBytes() => StatusKilobytes("VmHWM") * 1024;

    public long ResidentBytes() => StatusKilobytes("VmRSS") * 1024;

    private long StatusKilobytes(string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }
}
