using System.Net;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Bench;

/// <summary>The benchmark's comparison endpoints exist only when the bench setting turns them on.</summary>
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
    public async Task With_the_bench_setting_noop_grain_and_naive_answer_and_only_naive_writes()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(With_the_bench_setting_noop_grain_and_naive_answer_and_only_naive_writes));
        await using var server = ServerProcess.Start(database, "bench", new Dictionary<string, string?> { ["Sensors360__Bench__Enabled"] = "true" });
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();
        var (_, token) = await ProvisionAsync(operatorClient, "bench-1");

        using (var noop = await server.Http.PostAsync(new Uri("/bench/noop/bench-1", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.NoContent, noop.StatusCode);
        }

        using (var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/bench/grain/bench-1", UriKind.Relative)))
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            using var grain = await server.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.NoContent, grain.StatusCode);
        }

        using (var wrongToken = await HeartbeatAsync(server.Http, "bench-1", "s360_wrong"))
        {
            await AssertProblemAsync(wrongToken, 401);
        }

        Assert.Equal(0, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat"));

        using (var naive = await server.Http.PostAsync(new Uri("/bench/naive/bench-1", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.NoContent, naive.StatusCode);
        }

        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat"));
        using var heap = await server.Http.PostAsync(new Uri("/bench/gc", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.OK, heap.StatusCode);
    }
}
