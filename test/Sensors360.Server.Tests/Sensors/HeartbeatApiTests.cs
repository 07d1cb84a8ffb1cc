using System.Net;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>The heartbeat route's contract: every bad input gets its status and a problem body, and nothing is stored.</summary>
public sealed class HeartbeatApiTests(RunningServer running) : IClassFixture<RunningServer>
{
    private HttpClient Sensor => running.Server.Http;

    [Fact]
    public async Task A_heartbeat_with_metrics_is_stored_before_204()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "metrics-1");

        using var response = await HeartbeatAsync(Sensor, "metrics-1", token, """{"metrics":{"battery":0.82,"temperatureC":41.5}}""");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString, """
            SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id
            WHERE s.name = 'metrics-1' AND h.metrics = '{"battery":0.82,"temperatureC":41.5}'::jsonb
            """));
    }

    [Theory]
    [InlineData("")]
    [InlineData("{}")]
    [InlineData("""{"metrics":{}}""")]
    [InlineData("""{"metrics":null}""")]
    public async Task Empty_bodies_and_empty_metrics_are_fine(string body)
    {
        var id = $"empty-{Math.Abs(body.GetHashCode(StringComparison.Ordinal))}";
        var (_, token) = await ProvisionAsync(running.Operator, id);
        using var response = await HeartbeatAsync(Sensor, id, token, body);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    [Fact]
    public async Task Missing_wrong_and_unknown_credentials_all_get_the_same_401()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "auth-1");

        using var missing = await HeartbeatAsync(Sensor, "auth-1", token: null);
        using var wrong = await HeartbeatAsync(Sensor, "auth-1", "s360_not-the-token");
        using var unknown = await HeartbeatAsync(Sensor, "nobody-here", token);
        using var basic = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/sensors/auth-1/heartbeat", UriKind.Relative));
        basic.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", "YWRtaW46YWRtaW4=");
        using var basicResponse = await Sensor.SendAsync(basic);

        var bodies = new List<string>();
        foreach (var response in new[] { missing, wrong, unknown, basicResponse })
        {
            await AssertProblemAsync(response, 401);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
            bodies.Add(await response.Content.ReadAsStringAsync());
        }

        // Identical apart from the request trace id: nothing tells an unknown sensor from a wrong token.
        Assert.Single(bodies.Select(StripTraceId).Distinct());
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = 'auth-1'"));
    }

    [Theory]
    [InlineData("not json", "application/json", 400)]
    [InlineData("""{"metrics":{"battery":"full"}}""", "application/json", 400)]
    [InlineData("""{"metrics":{"bad name":1}}""", "application/json", 400)]
    [InlineData("""{"metrics":{"a234567890123456789012345678901234":1}}""", "application/json", 400)]
    [InlineData("""{"metrics":{"a":1,"a":2}}""", "application/json", 400)]
    [InlineData("""{"metrics":[1,2]}""", "application/json", 400)]
    [InlineData("""{"metrics":{"a":1},"extra":true}""", "application/json", 400)]
    [InlineData("""{"metrics":{"a":{"b":1}}}""", "application/json", 400)]
    [InlineData("[]", "application/json", 400)]
    [InlineData("""{"metrics":{"battery":0.5}}""", "text/plain", 415)]
    [InlineData("""{"metrics":{"battery":0.5}}""", "application/x-www-form-urlencoded", 415)]
    public async Task Bad_bodies_get_their_status_and_nothing_is_stored(string body, string contentType, int status)
    {
        var id = $"bad-{status}-{Math.Abs((body + contentType).GetHashCode(StringComparison.Ordinal))}";
        var (_, token) = await ProvisionAsync(running.Operator, id);

        using var response = await HeartbeatAsync(Sensor, id, token, body, contentType);

        await AssertProblemAsync(response, status);
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = $1", id));
    }

    [Fact]
    public async Task Seventeen_metrics_are_too_many()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "many-1");
        var metrics = string.Join(',', Enumerable.Range(0, 17).Select(i => $"\"m{i}\":{i}"));
        using var response = await HeartbeatAsync(Sensor, "many-1", token, "{\"metrics\":{" + metrics + "}}");
        await AssertProblemAsync(response, 400);

        var sixteen = string.Join(',', Enumerable.Range(0, 16).Select(i => $"\"m{i}\":{i}"));
        using var fine = await HeartbeatAsync(Sensor, "many-1", token, "{\"metrics\":{" + sixteen + "}}");
        Assert.Equal(HttpStatusCode.NoContent, fine.StatusCode);
    }

    [Fact]
    public async Task Bodies_over_4_KiB_get_413_whether_announced_or_chunked()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "big-1");
        var padding = new string(' ', 5000);
        using var announced = await HeartbeatAsync(Sensor, "big-1", token, "{}" + padding);
        await AssertProblemAsync(announced, 413);

        using var chunked = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/sensors/big-1/heartbeat", UriKind.Relative))
        {
            Content = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes("{}" + padding))),
        };
        chunked.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        chunked.Headers.TransferEncodingChunked = true;
        chunked.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var chunkedResponse = await Sensor.SendAsync(chunked);
        await AssertProblemAsync(chunkedResponse, 413);
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = 'big-1'"));
    }

    [Fact]
    public async Task A_malformed_sensor_id_gets_400()
    {
        using var response = await HeartbeatAsync(Sensor, "bad%20id", "s360_whatever");
        await AssertProblemAsync(response, 400);
    }

    [Fact]
    public async Task One_thousand_concurrent_heartbeats_from_100_sensors_are_all_stored()
    {
        var tokens = new Dictionary<string, string>();
        foreach (var i in Enumerable.Range(0, 100))
        {
            tokens[$"load-{i:000}"] = (await ProvisionAsync(running.Operator, $"load-{i:000}", new { id = $"load-{i:000}", tags = new[] { "load" } })).Token;
        }

        var responses = await Task.WhenAll(Enumerable.Range(0, 1000).Select(async i =>
        {
            var id = $"load-{i % 100:000}";
            using var response = await HeartbeatAsync(Sensor, id, tokens[id], "{\"metrics\":{\"n\":" + i + "}}");
            return response.StatusCode;
        }));

        Assert.All(responses, status => Assert.Equal(HttpStatusCode.NoContent, status));
        Assert.Equal(1000, await Sql.ScalarAsync(running.ConnectionString,
            "SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE 'load' = ANY (s.tags)"));
        Assert.Equal(1000, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(DISTINCT (h.metrics->>'n')) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE 'load' = ANY (s.tags)"));
        Assert.Equal(100, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor_status_rebuilt WHERE 'load' = ANY (tags) AND heartbeat_count = 10"));
    }

    private static string StripTraceId(string body)
    {
        using var problem = JsonDocument.Parse(body);
        return string.Join('|', problem.RootElement.EnumerateObject().Where(p => p.Name != "traceId").Select(p => $"{p.Name}={p.Value}"));
    }
}
