using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sensors360.Server.Tests.Dashboard;
using Sensors360.Server.Tests.Sensors;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Metrics;

/// <summary>
/// What <c>/metrics</c> exports, from a real server: the heartbeat writer's counters move by what was sent, the gauges
/// follow sockets and alerts, and every series the Grafana dashboard (deploy/grafana/) asks for is there. The server
/// has no metrics token: only loopback callers may scrape.
/// </summary>
public sealed partial class MetricsTests(LoopbackOnlyMetricsServer running) : IClassFixture<LoopbackOnlyMetricsServer>
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(15);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private HttpClient Scraper => running.Server.Http;

    [Fact]
    public async Task Stored_heartbeats_and_their_batches_rise_by_what_was_sent()
    {
        var (_, token) = await SensorClient.ProvisionAsync(running.Operator, "metrics-counted");
        var before = await Scrape.ReadAsync(Scraper, Cancel);
        const int Sent = 7;
        for (var i = 0; i < Sent; i++)
        {
            await SensorClient.StoredHeartbeatAsync(running.Server.Http, "metrics-counted", token);
        }

        // The writer counts a batch once it committed, before the caller's answer; polled all the same, so a
        // counter read a moment late fails only by the deadline.
        var after = await Eventually.MatchesAsync(
            () => Scrape.ReadAsync(Scraper, Cancel),
            scrape => scrape.Sum("sensors360_heartbeats_stored_total") > before.Sum("sensors360_heartbeats_stored_total"),
            Soon,
            "the stored heartbeats counter moved");

        Assert.Equal(Sent, after.Sum("sensors360_heartbeats_stored_total") - before.Sum("sensors360_heartbeats_stored_total"));
        Assert.Equal(Sent, after.Sum("sensors360_heartbeats_batch_size_sum") - before.Sum("sensors360_heartbeats_batch_size_sum"));
        var batches = after.Sum("sensors360_heartbeats_batch_size_count") - before.Sum("sensors360_heartbeats_batch_size_count");
        Assert.InRange(batches, 1, Sent);
        Assert.True(after.Has("sensors360_heartbeats_queue_depth"), "the queue depth gauge is exported");
    }

    [Fact]
    public async Task The_socket_gauge_follows_open_dashboard_sockets_and_open_alerts_follow_the_fleet()
    {
        var (_, token) = await SensorClient.ProvisionAsync(running.Operator, "metrics-silent");
        await SensorClient.StoredHeartbeatAsync(running.Server.Http, "metrics-silent", token);

        // No socket of another test of this class is left (each closes its own; the server counts it out soon after).
        const double Baseline = 0;
        await Eventually.MatchesAsync(
            () => Scrape.ReadAsync(Scraper, Cancel), scrape => scrape.Sum("sensors360_dashboard_sockets") == Baseline, Soon, "no socket open");
        await using (var feed = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies))
        {
            await Eventually.MatchesAsync(
                () => Scrape.ReadAsync(Scraper, Cancel), scrape => scrape.Sum("sensors360_dashboard_sockets") == Baseline + 1, Soon, "one more socket counted");
        }

        await Eventually.MatchesAsync(
            () => Scrape.ReadAsync(Scraper, Cancel), scrape => scrape.Sum("sensors360_dashboard_sockets") == Baseline, Soon, "the closed socket counted out");

        // The sensor falls silent past its 2 s threshold: its alert reaches the fleet's count.
        await Eventually.MatchesAsync(
            () => Scrape.ReadAsync(Scraper, Cancel), scrape => scrape.Sum("sensors360_alerts_open") >= 1, TimeSpan.FromSeconds(30), "an open alert counted");
    }

    [Fact]
    public async Task Without_a_token_a_remote_caller_is_refused_whatever_it_sends()
    {
        using var viaTrustedProxy = LoopbackClient.From(LoopbackOnlyMetricsServer.TrustedProxy, running.Server.BaseAddress);
        using (var remote = await ScrapeAsync(viaTrustedProxy, forwardedFor: "198.51.100.20", token: null))
        {
            await MetricsAccessTests.AssertChallengedAsync(remote);
        }

        using (var guessing = await ScrapeAsync(viaTrustedProxy, forwardedFor: "198.51.100.20", token: "any-token-at-all-0123456789"))
        {
            await MetricsAccessTests.AssertChallengedAsync(guessing);
        }

        // The trusted proxy's own loopback request (no forwarded client) is a loopback caller.
        using var own = await ScrapeAsync(viaTrustedProxy, forwardedFor: null, token: null);
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
    }

    [Fact]
    public async Task A_request_forwarded_by_a_proxy_the_server_does_not_trust_is_not_a_loopback_call()
    {
        // From 127.0.0.1, which this server does not list as a proxy, naming even a loopback client.
        using var forwarded = await ScrapeAsync(Scraper, forwardedFor: "127.0.0.1", token: null);

        await MetricsAccessTests.AssertChallengedAsync(forwarded);
    }

    [Fact]
    public async Task Through_HAProxy_on_this_host_a_caller_is_not_taken_for_a_loopback_one()
    {
        // deploy/haproxy.cfg on loopback in front of a silo that was not told to trust it: HAProxy's connection
        // comes from 127.0.0.1, but the X-Forwarded-For it adds marks the request as forwarded.
        await using var balancer = await LoadBalancer.StartAsync([running.Server.BaseAddress.Authority]);
        using var client = new HttpClient { BaseAddress = balancer.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        await balancer.WaitForAsync(LoadBalancer.ServerName(0), "UP", Soon);

        using var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative), Cancel);

        await MetricsAccessTests.AssertChallengedAsync(response);
    }

    [Fact]
    public async Task The_short_circuited_heartbeat_route_keeps_its_request_duration_and_no_per_request_counter_nobody_reads_is_exported()
    {
        var (_, token) = await SensorClient.ProvisionAsync(running.Operator, "metrics-route");
        await SensorClient.StoredHeartbeatAsync(running.Server.Http, "metrics-route", token);

        // Operators watch the heartbeat route's p95 (docs/operations.md#metrics); the route skips most of the pipeline.
        const string Route = "http_route=\"/api/sensors/{id}/heartbeat\"";
        Scrape? last = null;
        try
        {
            last = await Eventually.MatchesAsync(
                () => Scrape.ReadAsync(Scraper, Cancel),
                read => (last = read).Sum("http_server_request_duration_seconds_count", Route) >= 1,
                Soon,
                "the heartbeat route's request duration exported");
        }
        catch (TimeoutException) when (last is not null)
        {
            Assert.Fail("No request duration for the heartbeat route; the durations exported: " +
                string.Join(" ", last.Text.Split('\n').Where(line => line.StartsWith("http_server_request_duration_seconds_count", StringComparison.Ordinal))));
        }

        var scrape = last!;

        // Dropped by views (docs/performance.md#the-pipeline): recorded on every request, read by nothing.
        Assert.DoesNotContain(scrape.Names, name => name.StartsWith("http_server_active_requests", StringComparison.Ordinal));
        Assert.DoesNotContain(scrape.Names, name => name.StartsWith("aspnetcore_routing_match_attempts", StringComparison.Ordinal));
        // Kestrel's memory pool: the two updated on every buffer rented or returned are dropped; its growth and eviction stay.
        Assert.DoesNotContain(scrape.Names, name => name.StartsWith("aspnetcore_memory_pool_pooled", StringComparison.Ordinal));
        Assert.DoesNotContain(scrape.Names, name => name.StartsWith("aspnetcore_memory_pool_rented", StringComparison.Ordinal));
        Assert.Contains(scrape.Names, name => name.StartsWith("aspnetcore_memory_pool_allocated", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Every_panel_of_the_Grafana_dashboard_asks_for_series_the_server_exports()
    {
        // Traffic of every kind the dashboard shows, so each series has a sample: heartbeats, API calls, a socket.
        var (_, token) = await SensorClient.ProvisionAsync(running.Operator, "metrics-dashboard");
        await SensorClient.StoredHeartbeatAsync(running.Server.Http, "metrics-dashboard", token);

        await using var feed = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies);
        var exported = (await Eventually.MatchesAsync(
            () => Scrape.ReadAsync(Scraper, Cancel),
            scrape => scrape.Has("sensors360_heartbeats_stored_total") && scrape.Has("sensors360_dashboard_sockets"),
            Soon,
            "the server's own series")).Names;

        var dashboard = await File.ReadAllTextAsync(Repository.PathOf("deploy", "grafana", "sensors360.json"), Cancel);
        using var json = JsonDocument.Parse(dashboard);
        var panels = json.RootElement.GetProperty("panels").EnumerateArray().ToList();
        Assert.NotEmpty(panels);
        var missing = new List<string>();
        foreach (var panel in panels)
        {
            var title = panel.GetProperty("title").GetString();
            var expressions = panel.GetProperty("targets").EnumerateArray().Select(target => target.GetProperty("expr").GetString()!).ToList();
            Assert.True(expressions.Count > 0, $"panel '{title}' has a query");
            foreach (var expression in expressions)
            {
                var series = SeriesNames(expression);
                Assert.True(series.Count > 0, $"panel '{title}': '{expression}' names no series");
                missing.AddRange(series
                    .Where(name => !exported.Contains(name) && !AfterFirstNotification.Contains(name))
                    .Select(name => $"{title}: {name}"));
            }
        }

        Assert.True(missing.Count == 0, $"Series the dashboard asks for that the server does not export: {string.Join(", ", missing)}");
        Assert.Contains(panels, panel => panel.GetProperty("targets").EnumerateArray()
            .Any(target => AfterFirstNotification.Any(name => target.GetProperty("expr").GetString()!.Contains(name, StringComparison.Ordinal))));
        Assert.Equal("prometheus", json.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Single(variable => variable.GetProperty("type").GetString() == "datasource").GetProperty("query").GetString());
    }

    /// <summary>
    /// The notification deliveries counter (part 1 of issue 13, on the same meter) has a sample only once a
    /// notification was delivered or failed, which this server never does.
    /// </summary>
    private static readonly string[] AfterFirstNotification = ["sensors360_notification_deliveries_total"];

    /// <summary>The metric names in a PromQL expression: identifiers that are not functions, keywords, labels or label values.</summary>
    private static List<string> SeriesNames(string expression)
    {
        var withoutStrings = QuotedString().Replace(expression, "\"\"");
        var withoutMatchers = LabelMatchers().Replace(withoutStrings, "");
        var withoutRanges = RangeSelectors().Replace(withoutMatchers, "");
        var withoutGrouping = Grouping().Replace(withoutRanges, "");
        return [.. Identifier().Matches(withoutGrouping)
            .Select(match => match.Value)
            .Where(name => name.Contains('_', StringComparison.Ordinal) && !PromQlWords.Contains(name))
            .Distinct(StringComparer.Ordinal)];
    }

    private static readonly HashSet<string> PromQlWords = new(StringComparer.Ordinal)
    {
        "histogram_quantile", "label_replace", "count_values", "absent_over_time", "max_over_time", "avg_over_time",
    };

    private static async Task<HttpResponseMessage> ScrapeAsync(HttpClient client, string? forwardedFor, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/metrics", UriKind.Relative));
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return await client.SendAsync(request, Cancel);
    }

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex QuotedString();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex LabelMatchers();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex RangeSelectors();

    [GeneratedRegex(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex Grouping();

    [GeneratedRegex(@"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()")]
    private static partial Regex Identifier();
}
