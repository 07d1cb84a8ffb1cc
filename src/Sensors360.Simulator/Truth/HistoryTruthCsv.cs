using System.Globalization;
using Sensors360.Simulator.History;

namespace Sensors360.Simulator.Truth;

/// <summary>
/// The ground truth of a simulated history as CSV, one row per sensor, written as each sensor is played:
/// <c>id,installedAt,lastHeartbeatAt,diedAt,cause,lifespanSeconds,announced,flaky,trueLifespanSeconds,heartbeats,precursorSeconds,model,site</c>.
/// </summary>
/// <remarks>
/// <c>lifespanSeconds</c> is what the heartbeats show (last − first, and the first is the installation);
/// <c>trueLifespanSeconds</c> is the drawn one, known even for sensors decommissioned or alive at the end.
/// <c>diedAt</c> is the death or decommissioning, empty when the sensor outlived the history.
/// </remarks>
internal static class HistoryTruthCsv
{
    public const string Header =
        "id,installedAt,lastHeartbeatAt,diedAt,cause,lifespanSeconds,announced,flaky,trueLifespanSeconds,heartbeats,precursorSeconds,model,site";

    public static void WriteHeader(TextWriter csv) => csv.Write(Header + "\n");

    public static void WriteRow(TextWriter csv, SensorLife life) => csv.Write(string.Create(CultureInfo.InvariantCulture,
        $"{life.Id},{Time(life.FirstHeartbeatAt)},{Time(life.LastHeartbeatAt)},{Time(life.DiedAt)},{Cause(life.Cause)},{Seconds(life.LastHeartbeatAt - life.FirstHeartbeatAt)},{Flag(life.Announced)},{Flag(life.Flaky)},{Seconds(life.TrueLifespan)},{life.Heartbeats},{(life.Announced ? Seconds(life.Precursor) : "")},{life.Model},{life.Site}\n"));

    public static string Cause(HistoryCause cause) => cause switch
    {
        HistoryCause.Failed => "failed",
        HistoryCause.Decommissioned => "decommissioned",
        _ => "alive",
    };

    private static string Time(long? at) => TruthCsv.Time(at is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null);

    private static string Seconds(long milliseconds) => (milliseconds / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);

    private static string Flag(bool value) => value ? "true" : "false";
}
