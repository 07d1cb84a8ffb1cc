using System.Globalization;
using System.Text;
using Sensors360.Simulator.Fleet;

namespace Sensors360.Simulator.Truth;

/// <summary>
/// The ground truth of a fleet run as CSV, one row per simulated sensor, to check the server's analytics
/// against: <c>id,birth,death,flaky,lifespanSeconds,intervalSeconds</c>. Birth is the first heartbeat,
/// death the last heartbeat of a sensor whose life ended (empty while it lives); times are UTC ISO 8601.
/// </summary>
internal static class TruthCsv
{
    public const string Header = "id,birth,death,flaky,lifespanSeconds,intervalSeconds";

    public static void Write(string path, IEnumerable<SimulatedSensor> sensors)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory)
        {
            Directory.CreateDirectory(directory);
        }

        var csv = new StringBuilder().Append(Header).Append('\n');
        foreach (var sensor in sensors)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{sensor.Id},{Time(sensor.BornAt)},{Time(sensor.DiedAt)},{(sensor.Flaky ? "true" : "false")},")
                .Append(CultureInfo.InvariantCulture, $"{sensor.Lifespan.TotalSeconds:0.###},{sensor.Interval.TotalSeconds:0.###}\n");
        }

        File.WriteAllText(path, csv.ToString());
    }

    /// <summary>UTC ISO 8601 with milliseconds, <c>2026-03-01T08:00:00.000Z</c>; empty for null.</summary>
    internal static string Time(DateTimeOffset? at) =>
        at?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) ?? "";
}
