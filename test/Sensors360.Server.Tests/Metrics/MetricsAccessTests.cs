using System.Net;
using System.Net.Http.Headers;
using Sensors360.Server.Tests.Sensors;

namespace Sensors360.Server.Tests.Metrics;

/// <summary>Who may scrape <c>/metrics</c> when a token is set (docs/api.md#metrics).</summary>
public sealed class MetricsAccessTests(TokenMetricsServer running) : IClassFixture<TokenMetricsServer>
{
    private const string RemoteClient = "203.0.113.7";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_loopback_caller_scrapes_without_a_token()
    {
        var scrape = await Scrape.ReadAsync(running.Server.Http, Cancel);

        Assert.True(scrape.Has("dotnet_process_memory_working_set_bytes"), "the runtime's meter is exported");
        Assert.True(scrape.Has("orleans_catalog_activations"), "Orleans' meter is exported");
        Assert.True(scrape.Has("db_client_connection_count"), "Npgsql's meter is exported");
    }

    [Fact]
    public async Task A_remote_caller_behind_the_trusted_balancer_needs_the_token()
    {
        // What the balancer sends for a client elsewhere: the connection is from loopback, the client is not.
        using (var none = await ScrapeAsync(forwardedFor: RemoteClient, token: null))
        {
            await AssertChallengedAsync(none);
        }

        using (var wrong = await ScrapeAsync(forwardedFor: RemoteClient, token: TokenMetricsServer.Token + "x"))
        {
            await AssertChallengedAsync(wrong);
        }

        using (var shorter = await ScrapeAsync(forwardedFor: RemoteClient, token: TokenMetricsServer.Token[..^1]))
        {
            await AssertChallengedAsync(shorter);
        }

        using var right = await ScrapeAsync(forwardedFor: RemoteClient, token: TokenMetricsServer.Token);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal("text/plain", right.Content.Headers.ContentType?.MediaType);
        Assert.Contains("# TYPE ", await right.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_token_is_refused_even_from_loopback()
    {
        using var wrong = await ScrapeAsync(forwardedFor: null, token: "not-the-metrics-token-at-all");

        await AssertChallengedAsync(wrong);
    }

    [Fact]
    public async Task An_operator_session_is_not_a_metrics_credential()
    {
        using var session = await running.Server.LoginAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/metrics", UriKind.Relative));
        request.Headers.Add("X-Forwarded-For", RemoteClient);

        using var response = await session.SendAsync(request, Cancel);

        await AssertChallengedAsync(response);
    }

    [Fact]
    public async Task A_short_metrics_token_stops_the_server_with_one_clear_line()
    {
        // Settings are checked before the database is touched: none is needed.
        await using var server = Sensors360.Testing.ServerProcess.Start(connectionString: null, "metrics-short-token", new Dictionary<string, string?>
        {
            ["Sensors360__Metrics__Token"] = "guessable",
        });

        Assert.Equal(1, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var all = string.Join('\n', server.Output);
        Assert.True(server.Output.Count(line => line.Contains("Sensors360:Metrics:Token must be at least 16 characters", StringComparison.Ordinal)) == 1, all);
        Assert.DoesNotContain(server.Output, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    private async Task<HttpResponseMessage> ScrapeAsync(string? forwardedFor, string? token)
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

        return await running.Server.Http.SendAsync(request, Cancel);
    }

    internal static async Task AssertChallengedAsync(HttpResponseMessage response)
    {
        await SensorClient.AssertProblemAsync(response, 401);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
    }
}
