using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sensors360.Simulator.History;
using Sensors360.Simulator.Truth;

namespace Sensors360.Simulator.Tests.History;

/// <summary>The history's files: the NDJSON's shape and order, and the truth and manifest agreeing with it.</summary>
public sealed partial class HistoryFileTests
{
    private static readonly DateTimeOffset End = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Every kind of sensor in a small history: failed, announced, decommissioned, flaky and alive at the end.</summary>
    private static readonly HistoryOptions Mixed = new()
    {
        Sensors = 300,
        End = End,
        Span = TimeSpan.FromDays(60),
        InstallOver = TimeSpan.FromDays(30),
        Interval = TimeSpan.FromHours(1),
        LifespanScale = TimeSpan.FromDays(30),
        DecommissionedShare = 0.1,
        AnnouncingShare = 0.5,
        FlakyShare = 0.2,
        Precursor = TimeSpan.FromDays(2),
        Seed = 20260301,
    };

    private static readonly Lazy<HistoryReadBack> MixedHistory = new(() => HistoryReadBack.Generate(Mixed));

    [Fact]
    public void Every_line_has_exactly_the_documented_shape()
    {
        var history = MixedHistory.Value;
        var ids = history.Truth.Select(row => row.Id).ToHashSet(StringComparer.Ordinal);
        var lines = 0;
        foreach (var line in history.Lines())
        {
            lines++;
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            Assert.Equal(["sensor", "at", "metrics"], root.EnumerateObject().Select(property => property.Name));
            Assert.Contains(root.GetProperty("sensor").GetString()!, ids);
            var at = root.GetProperty("at").GetString()!;
            Assert.Matches(IsoTimeWithOffset(), at);
            Assert.Equal(TimeSpan.Zero, DateTimeOffset.Parse(at, CultureInfo.InvariantCulture).Offset);
            var metrics = root.GetProperty("metrics").EnumerateObject().ToList();
            Assert.Equal(["battery", "temperatureC"], metrics.Select(metric => metric.Name));
            Assert.All(metrics, metric => Assert.Equal(JsonValueKind.Number, metric.Value.ValueKind));
            Assert.InRange(root.GetProperty("metrics").GetProperty("battery").GetDouble(), 0, 1);
            Assert.InRange(root.GetProperty("metrics").GetProperty("temperatureC").GetDouble(), 10, 50);
        }

        Assert.Equal(history.Summary.Heartbeats, lines);
        Assert.Equal(history.Ndjson.LongLength, history.Summary.Bytes);
    }

    [Fact]
    public void Without_metrics_a_line_is_only_the_sensor_and_its_time()
    {
        var history = HistoryReadBack.Generate(Mixed with { Sensors = 5, Metrics = false });

        Assert.All(history.Lines(), line =>
        {
            using var json = JsonDocument.Parse(line);
            Assert.Equal(["sensor", "at"], json.RootElement.EnumerateObject().Select(property => property.Name));
        });
        // The metrics take draws of their own, so leaving them out does not move a single heartbeat.
        Assert.Equal(
            HistoryReadBack.Generate(Mixed with { Sensors = 5 }).Lines().Select(line => line[..line.IndexOf(",\"metrics\"", StringComparison.Ordinal)]),
            history.Lines().Select(line => line[..^1]));
    }

    [Fact]
    public void A_sensor_beats_in_strictly_increasing_time_from_installation_and_never_after_its_end()
    {
        var history = MixedHistory.Value;
        var beats = history.BeatsBySensor();

        Assert.All(history.Truth, row =>
        {
            var own = beats[row.Id];
            Assert.Equal(row.InstalledAt, own[0]);
            Assert.All(own.Zip(own.Skip(1)), pair => Assert.True(pair.First < pair.Second, $"{row.Id}: {pair.Second:O} follows {pair.First:O}"));
            Assert.True(own[^1] <= End, $"{row.Id} beat at {own[^1]:O}, after the end");
            if (row.DiedAt is { } died)
            {
                Assert.True(own[^1] < died, $"{row.Id} beat at {own[^1]:O}, at or after its {row.Cause} at {died:O}");
            }
        });
        Assert.Equal(history.Truth.Count, beats.Count);
        Assert.All(history.Truth, row => Assert.InRange(row.InstalledAt, End - Mixed.Span, End - Mixed.Span + Mixed.InstallOver));
    }

    [Fact]
    public void The_truth_agrees_with_what_the_heartbeats_show()
    {
        var history = MixedHistory.Value;
        var beats = history.BeatsBySensor();

        Assert.Equal(HistoryTruthCsv.Header, history.Header);
        Assert.Equal(Enumerable.Range(1, Mixed.Sensors).Select(n => $"hist-{n:00000}"), history.Truth.Select(row => row.Id));
        Assert.All(history.Truth, row =>
        {
            var own = beats[row.Id];
            Assert.Equal(own[0], row.InstalledAt);
            Assert.Equal(own[^1], row.LastHeartbeatAt);
            Assert.Equal(own.Count, row.Heartbeats);
            Assert.Equal((own[^1] - own[0]).TotalSeconds, row.LifespanSeconds, 3);
            Assert.Equal(row.Cause == "alive", row.DiedAt is null);
            Assert.True(row.Cause is "failed" or "decommissioned" or "alive", row.Cause);
            Assert.True(!row.Announced || row.Cause == "failed", $"{row.Id} is announced but {row.Cause}");
            if (row.Cause == "failed")
            {
                // A failure's death is its drawn lifespan after installation.
                Assert.Equal(row.TrueLifespanSeconds, (row.DiedAt!.Value - row.InstalledAt).TotalSeconds, 3);
            }
        });
        // The mix this configuration is for: every kind of ending is there.
        Assert.Contains(history.Truth, row => row.Announced);
        Assert.Contains(history.Truth, row => row.Cause == "failed" && !row.Announced);
        Assert.Contains(history.Truth, row => row.Cause == "decommissioned");
        Assert.Contains(history.Truth, row => row.Cause == "alive");
    }

    [Fact]
    public void The_manifest_lists_every_sensor_with_a_model_and_a_site_tag()
    {
        var history = MixedHistory.Value;
        using var manifest = JsonDocument.Parse(history.Manifest);

        var sensors = manifest.RootElement.EnumerateArray().ToList();
        Assert.Equal(history.Truth.Select(row => row.Id), sensors.Select(sensor => sensor.GetProperty("id").GetString()));
        Assert.All(sensors, sensor =>
        {
            var tags = sensor.GetProperty("tags").EnumerateArray().Select(tag => tag.GetString()!).ToList();
            Assert.Equal(2, tags.Count);
            Assert.Contains(tags[0], (string[])["model-a", "model-b"]);
            Assert.Matches(SiteTag(), tags[1]);
            Assert.InRange(int.Parse(tags[1]["site-".Length..], CultureInfo.InvariantCulture), 1, Mixed.Sites);
        });
        Assert.Equal(2, sensors.Select(sensor => sensor.GetProperty("tags")[0].GetString()).Distinct().Count());
    }

    [Fact]
    public void The_same_seed_writes_the_same_bytes_and_another_seed_others()
    {
        var options = Mixed with { Sensors = 40 };
        var first = HistoryReadBack.Generate(options);
        var again = HistoryReadBack.Generate(options);
        var other = HistoryReadBack.Generate(options with { Seed = options.Seed + 1 });

        Assert.Equal(first.Ndjson, again.Ndjson);
        Assert.Equal(first.Truth, again.Truth, (a, b) => a.Columns.SequenceEqual(b.Columns));
        Assert.Equal(first.Manifest, again.Manifest);
        Assert.NotEqual(first.Ndjson, other.Ndjson);
    }

    [Fact]
    public void A_sensor_has_the_same_history_in_a_larger_fleet()
    {
        var small = HistoryReadBack.Generate(Mixed with { Sensors = 10 });
        var large = HistoryReadBack.Generate(Mixed with { Sensors = 30 });

        Assert.Equal(small.Ndjson, large.Ndjson.AsSpan(0, small.Ndjson.Length).ToArray());
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$")]
    private static partial Regex IsoTimeWithOffset();

    [GeneratedRegex(@"^site-\d+$")]
    private static partial Regex SiteTag();
}
