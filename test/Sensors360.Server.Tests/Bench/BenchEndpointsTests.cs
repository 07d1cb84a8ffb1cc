using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Bench;

/// <summary>
/// The benchmark's comparison endpoints exist only when the bench setting turns them on, and only the
/// <c>grain</c> run skips the heartbeat write.
/// </summary>
public sealed class BenchEndpointsTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task Without_the_bench_setting_there_are_no_bench_endpoints()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Without_the_bench_setting_there_are_no_bench_endpoints));
        await using var server = ServerProcess.Start(database, "nobench");
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();

        foreach (var path in new[] { "/bench/noop/a", "/bench/grain/a", "/bench/naive/a", "/bench/gc" })
        {
            using var anonymous = await server.Http.PostAsync(new Uri(path, UriKind.Relative), null);
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            using var withSession = await operatorClient.PostAsync(new Uri(path, UriKind.Relative), null);
            Assert.Equal(HttpStatusCode.NotFound, withSession.StatusCode);
        }
    }

    [Fact]
    public async Task With_the_bench_setting_grain_skips_the_write_while_the_real_route_in_the_same_server_stores()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(With_the_bench_setting_grain_skips_the_write_while_the_real_route_in_the_same_server_stores));
        await using var server = ServerProcess.Start(database, "bench", new Dictionary<string, string?> { ["Sensors360__Bench__Enabled"] = "true" });
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();
        var (_, token) = await ProvisionAsync(operatorClient, "bench-1");

        using (var noop = await server.Http.PostAsync(new Uri("/bench/noop/bench-1", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.NoContent, noop.StatusCode);
        }

        await AssertBenchGrainAnswersAsync(server, token);
        Assert.Equal(0, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat"));

        await StoredHeartbeatAsync(server.Http, "bench-1", token);

        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat"));

        // Skipping is decided per call, not per sensor or per server: the grain run still stores nothing.
        await AssertBenchGrainAnswersAsync(server, token);
        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat"));
        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT heartbeat_count FROM sensor_status_rebuilt WHERE name = 'bench-1'"));

        using (var wrongToken = await HeartbeatAsync(server.Http, "bench-1", "s360_wrong"))
        {
            await AssertProblemAsync(wrongToken, 401);
        }

        using (var naive = await server.Http.PostAsync(new Uri("/bench/naive/bench-1", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.NoContent, naive.StatusCode);
        }

        Assert.Equal(2, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat"));

        // The writer's meter counted the one real heartbeat, in one batch; naive bypasses the writer.
        using var heap = await server.Http.PostAsync(new Uri("/bench/gc", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.OK, heap.StatusCode);
        var totals = await heap.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Equal(1, totals.GetProperty("heartbeatsStored").GetInt64());
        Assert.Equal(1, totals.GetProperty("heartbeatBatches").GetInt64());
    }

    private static async Task AssertBenchGrainAnswersAsync(ServerProcess server, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/bench/grain/bench-1", UriKind.Relative));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var grain = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.NoContent, grain.StatusCode);
    }
}
