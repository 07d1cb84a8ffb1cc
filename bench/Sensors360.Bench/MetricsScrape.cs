using System.Globalization;

namespace Sensors360.Bench;

/// <summary>
/// One scrape of the server's <c>/metrics</c> (the Prometheus text format its OpenTelemetry exporter writes): the
/// samples of a metric by name, each a line <c>name{labels} value</c> or <c>name value</c>.
/// </summary>
internal sealed class MetricsScrape(string text)
{
    public static async Task<MetricsScrape> ReadAsync(HttpClient server, CancellationToken cancellationToken) =>
        new(await server.GetStringAsync(new Uri("/metrics", UriKind.Relative), cancellationToken));

    /// <summary>The lines of <paramref name="name"/>'s samples: not those of a longer name it begins, nor comments.</summary>
    public IEnumerable<string> Samples(string name) =>
        text.Split('\n').Where(line => line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] is '{' or ' ');

    /// <summary>A sample line's value.</summary>
    public static double ValueOf(string sample) => double.Parse(sample[(sample.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);

    /// <summary>The sum of <paramref name="name"/>'s samples over their labels; throws when the scrape has none.</summary>
    public double Sum(string name) =>
        Samples(name).ToList() is { Count: > 0 } samples ? samples.Sum(ValueOf) : throw new InvalidOperationException($"The server's /metrics has no {name}.");
}
