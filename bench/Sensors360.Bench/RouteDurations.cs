using System.Globalization;

namespace Sensors360.Bench;

/// <summary>
/// The server's own account of one route's answered requests: ASP.NET Core's <c>http.server.request.duration</c>
/// histogram as the server exports it at <c>/metrics</c> (cumulative counts by upper bound, seconds), read before and
/// after a run. It starts when Kestrel has parsed a request and ends with the response, so beside the client's
/// latency it tells the server's share from the client's and the sockets'.
/// </summary>
internal sealed record RouteDurations(IReadOnlyDictionary<double, long> CountWithin)
{
    private const string Bucket = "http_server_request_duration_seconds_bucket";

    /// <summary>The histogram of <paramref name="route"/>'s requests answered <paramref name="status"/>, now.</summary>
    public static async Task<RouteDurations> ReadAsync(HttpClient server, string route, int status, CancellationToken cancellationToken)
    {
        var scrape = await MetricsScrape.ReadAsync(server, cancellationToken);
        var counts = new Dictionary<double, long>();
        var routeLabel = $"http_route=\"{route}\"";
        var statusLabel = $"http_response_status_code=\"{status.ToString(CultureInfo.InvariantCulture)}\"";
        foreach (var line in scrape.Samples(Bucket))
        {
            if (!line.Contains(routeLabel, StringComparison.Ordinal) || !line.Contains(statusLabel, StringComparison.Ordinal))
            {
                continue;
            }

            var bound = line[(line.IndexOf("le=\"", StringComparison.Ordinal) + 4)..];
            bound = bound[..bound.IndexOf('"', StringComparison.Ordinal)];
            var key = bound == "+Inf" ? double.PositiveInfinity : double.Parse(bound, CultureInfo.InvariantCulture);
            counts[key] = counts.GetValueOrDefault(key) + (long)MetricsScrape.ValueOf(line);
        }

        return new RouteDurations(counts);
    }

    public RouteDurations Since(RouteDurations before) =>
        new(CountWithin.ToDictionary(bucket => bucket.Key, bucket => bucket.Value - before.CountWithin.GetValueOrDefault(bucket.Key)));

    public long Count => CountWithin.GetValueOrDefault(double.PositiveInfinity);

    /// <summary>The share of the requests answered within <paramref name="seconds"/> (one of the histogram's bounds).</summary>
    public double ShareWithin(double seconds) => Count == 0 ? 0 : CountWithin.GetValueOrDefault(seconds) / (double)Count;

    /// <summary>The smallest bound that holds <paramref name="share"/> of the requests: the percentile lies at or below it.</summary>
    public double BoundOf(double share) =>
        CountWithin.Where(bucket => bucket.Value >= share * Count).Select(bucket => bucket.Key).DefaultIfEmpty(double.PositiveInfinity).Min();
}
