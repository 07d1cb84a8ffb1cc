using System.Globalization;
using System.Text.RegularExpressions;

namespace Sensors360.Server.Tests.Metrics;

/// <summary>One <c>/metrics</c> answer in the Prometheus text format: its samples, by series name with labels.</summary>
internal sealed partial class Scrape
{
    private readonly List<(string Name, string Labels, double Value)> _samples = [];

    private Scrape(string text)
    {
        Text = text;
        foreach (var line in text.ReplaceLineEndings("\n").Split('\n'))
        {
            var sample = Sample().Match(line);
            if (sample.Success)
            {
                _samples.Add((sample.Groups["name"].Value, sample.Groups["labels"].Value,
                    double.Parse(sample.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture)));
            }
        }
    }

    public string Text { get; }

    /// <summary>Every series name with at least one sample (histograms as their _bucket, _sum and _count).</summary>
    public IReadOnlySet<string> Names => _samples.Select(sample => sample.Name).ToHashSet(StringComparer.Ordinal);

    /// <summary>The sum of the samples of <paramref name="name"/> whose labels contain <paramref name="labelPart"/>; 0 when there are none.</summary>
    public double Sum(string name, string labelPart = "") =>
        _samples.Where(sample => sample.Name == name && sample.Labels.Contains(labelPart, StringComparison.Ordinal)).Sum(sample => sample.Value);

    public bool Has(string name) => _samples.Any(sample => sample.Name == name);

    public static async Task<Scrape> ReadAsync(HttpClient client, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative), cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.OK, $"/metrics answered {(int)response.StatusCode}: {body}");
        return new Scrape(body);
    }

    // Label values are quoted and may hold braces (a route such as /api/sensors/{id}/heartbeat).
    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?<labels>\{(?:[^""}]|""(?:[^""\\]|\\.)*"")*\})?\s+(?<value>\S+)")]
    private static partial Regex Sample();
}
