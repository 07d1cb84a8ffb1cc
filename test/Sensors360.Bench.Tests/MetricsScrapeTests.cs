namespace Sensors360.Bench.Tests;

/// <summary>The bench's reading of the server's /metrics: a metric's samples by exact name, summed over labels.</summary>
public sealed class MetricsScrapeTests
{
    // The shape the server's OpenTelemetry exporter writes: comments, a scope label, and a longer name that begins with the gauge's.
    private const string Scrape = """
        # TYPE sensors360_dashboard_sockets gauge
        # HELP sensors360_dashboard_sockets Live-feed WebSockets open on this silo.
        sensors360_dashboard_sockets{otel_scope_name="Sensors360.Server"} 7
        sensors360_dashboard_sockets{otel_scope_name="Other"} 2
        sensors360_dashboard_sockets_opened_total{otel_scope_name="Sensors360.Server"} 40
        http_server_request_duration_seconds_bucket{http_route="/api/sensors/{id}/heartbeat",http_response_status_code="204",le="0.05"} 1234
        """;

    [Fact]
    public void A_gauge_is_summed_over_its_labels_and_a_longer_name_is_not_its_sample()
    {
        Assert.Equal(9, new MetricsScrape(Scrape).Sum("sensors360_dashboard_sockets"));
    }

    [Fact]
    public void A_sample_line_gives_its_value()
    {
        var sample = Assert.Single(new MetricsScrape(Scrape).Samples("http_server_request_duration_seconds_bucket"));

        Assert.Equal(1234, MetricsScrape.ValueOf(sample));
    }

    [Fact]
    public void A_scrape_without_the_metric_throws_rather_than_reading_zero()
    {
        Assert.Throws<InvalidOperationException>(() => new MetricsScrape(Scrape).Sum("sensors360_missing"));
    }
}
