using System.Globalization;
using System.Text;
using System.Text.Json;
using Sensors360.Simulator.History;

namespace Sensors360.Simulator.Tests.History;

/// <summary>A history generated in memory and read back as the import and a statistics test would read it.</summary>
internal sealed class HistoryReadBack
{
    private HistoryReadBack(byte[] ndjson, string truth, string manifest, HistorySummary summary)
    {
        Ndjson = ndjson;
        Summary = summary;
        Manifest = manifest;
        Header = truth[..truth.IndexOf('\n', StringComparison.Ordinal)];
        Truth = ParseTruth(truth);
    }

    public byte[] Ndjson { get; }

    public string Header { get; }

    public IReadOnlyList<TruthRow> Truth { get; }

    public string Manifest { get; }

    public HistorySummary Summary { get; }

    public static HistoryReadBack Generate(HistoryOptions options)
    {
        using var history = new MemoryStream();
        using var truth = new StringWriter(CultureInfo.InvariantCulture);
        using var manifest = new MemoryStream();
        var summary = HistoryGeneration.Write(options, history, truth, manifest);
        return new HistoryReadBack(history.ToArray(), truth.ToString(), Encoding.UTF8.GetString(manifest.ToArray()), summary);
    }

    /// <summary>Writes only the truth: the heartbeats go nowhere, for tests of the truth's statistics alone.</summary>
    public static IReadOnlyList<TruthRow> TruthOnly(HistoryOptions options)
    {
        using var truth = new StringWriter(CultureInfo.InvariantCulture);
        HistoryGeneration.Write(options, Stream.Null, truth, null);
        return ParseTruth(truth.ToString());
    }

    private static List<TruthRow> ParseTruth(string truth)
    {
        var rows = truth.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var columns = rows[0].Split(',');
        return [.. rows.Skip(1).Select(row => new TruthRow(columns.Zip(row.Split(',')).ToDictionary(pair => pair.First, pair => pair.Second)))];
    }

    /// <summary>The lines as text, in file order.</summary>
    public IEnumerable<string> Lines() => Encoding.UTF8.GetString(Ndjson).Split('\n').SkipLast(1);

    /// <summary>Each sensor's heartbeat times in file order, read from the <c>sensor</c> and <c>at</c> fields.</summary>
    public Dictionary<string, List<DateTimeOffset>> BeatsBySensor()
    {
        var beats = new Dictionary<string, List<DateTimeOffset>>(StringComparer.Ordinal);
        foreach (var line in Lines())
        {
            using var json = JsonDocument.Parse(line);
            var sensor = json.RootElement.GetProperty("sensor").GetString()!;
            var at = DateTimeOffset.Parse(json.RootElement.GetProperty("at").GetString()!, CultureInfo.InvariantCulture);
            if (!beats.TryGetValue(sensor, out var list))
            {
                beats[sensor] = list = [];
            }

            list.Add(at);
        }

        return beats;
    }
}

/// <summary>One row of the history's truth CSV, by column name.</summary>
internal sealed record TruthRow(IReadOnlyDictionary<string, string> Columns)
{
    public string Id => Columns["id"];

    public string Cause => Columns["cause"];

    public DateTimeOffset InstalledAt => Time(Columns["installedAt"])!.Value;

    public DateTimeOffset LastHeartbeatAt => Time(Columns["lastHeartbeatAt"])!.Value;

    public DateTimeOffset? DiedAt => Time(Columns["diedAt"]);

    public double LifespanSeconds => double.Parse(Columns["lifespanSeconds"], CultureInfo.InvariantCulture);

    public double TrueLifespanSeconds => double.Parse(Columns["trueLifespanSeconds"], CultureInfo.InvariantCulture);

    public long Heartbeats => long.Parse(Columns["heartbeats"], CultureInfo.InvariantCulture);

    public bool Announced => bool.Parse(Columns["announced"]);

    public bool Flaky => bool.Parse(Columns["flaky"]);

    private static DateTimeOffset? Time(string text) =>
        text.Length == 0 ? null : DateTimeOffset.ParseExact(text, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
}
