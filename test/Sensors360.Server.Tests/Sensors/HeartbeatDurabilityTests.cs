using System.Net;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>What survives failures: no 2xx without a stored heartbeat, and alerts even when a silo dies.</summary>
public sealed class HeartbeatDurabilityTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task While_PostgreSQL_is_down_heartbeats_get_503_and_the_server_recovers_without_a_restart()
    {
        await using var ownPostgres = await ThrowawayPostgres.StartAsync();
        var database = await ownPostgres.CreateDatabaseAsync("outage");
        await using var server = ServerProcess.Start(database, "outage");
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();
        var (_, token) = await ProvisionAsync(operatorClient, "outage-1");
        await StoredHeartbeatAsync(server.Http, "outage-1", token);

        await ownPostgres.StopServerAsync();
        var during = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var response = await HeartbeatAsync(server.Http, "outage-1", token);
            return (response.StatusCode, RetryAfter: response.Headers.RetryAfter?.Delta, await response.Content.ReadAsStringAsync());
        }));
        Assert.All(during, response =>
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.RetryAfter);
        });

        // Operator reads fail the same way: 503 and a problem body, never a 500.
        using (var list = await operatorClient.GetAsync(new Uri("/api/sensors", UriKind.Relative)))
        {
            await AssertProblemAsync(list, 503);
            Assert.NotNull(list.Headers.RetryAfter);
        }

        await ownPostgres.StartServerAsync();
        var accepted = 1;
        await Eventually.TrueAsync(
            async () =>
            {
                using var response = await HeartbeatAsync(server.Http, "outage-1", token);
                if (response.StatusCode == HttpStatusCode.NoContent)
                {
                    accepted++;
                    return true;
                }

                Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                return false;
            },
            TimeSpan.FromSeconds(30),
            "heartbeats are stored again once PostgreSQL is back");

        // Exactly the acknowledged heartbeats are in the table: none of the 503s slipped in.
        Assert.Equal(accepted, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat"));
        Assert.Equal(accepted, await Sql.ScalarAsync(database, "SELECT heartbeat_count FROM sensor_status_rebuilt WHERE name = 'outage-1'"));
        Assert.False(server.HasExited);
    }

    [Fact]
    public async Task Once_PostgreSQL_is_back_after_a_quiet_restart_the_first_heartbeats_are_stored()
    {
        await using var ownPostgres = await ThrowawayPostgres.StartAsync();
        var database = await ownPostgres.CreateDatabaseAsync("quiet-restart");
        await using var server = ServerProcess.Start(database, "quiet-restart");
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();
        var sensors = new List<(string Id, string Token)>();
        for (var i = 0; i < 8; i++)
        {
            var (_, token) = await ProvisionAsync(operatorClient, $"quiet-{i}");
            sensors.Add(($"quiet-{i}", token));
        }

        // The writers that take these batches keep their connections open.
        await Task.WhenAll(sensors.Select(sensor => StoredHeartbeatAsync(server.Http, sensor.Id, sensor.Token)));

        // The database restarts while no heartbeat arrives, closing every connection the server held. The outage lasts
        // longer than a writer trusts an idle connection, as any real restart does.
        await ownPostgres.StopServerAsync();
        await Task.Delay(HeartbeatLog.IdleCheckAfter);
        await ownPostgres.StartServerAsync();
        await server.WaitUntilReadyAsync();

        var answers = new List<string>();
        foreach (var sensor in sensors)
        {
            using var response = await HeartbeatAsync(server.Http, sensor.Id, sensor.Token);
            answers.Add($"heartbeat {sensor.Id}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        Assert.True(
            answers.All(answer => answer.Contains(": 204 ", StringComparison.Ordinal)),
            "a heartbeat failed on a connection the restart had closed:\n" + string.Join('\n', answers));
        Assert.Equal(2 * sensors.Count, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat"));
    }

    [Fact]
    public async Task A_sensor_that_goes_quiet_while_its_silo_is_stopped_still_gets_its_alert_from_the_survivor()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(A_sensor_that_goes_quiet_while_its_silo_is_stopped_still_gets_its_alert_from_the_survivor));
        var monitoring = new Dictionary<string, string?>
        {
            // Long enough that provisioning eight sensors on a loaded machine ends before the first falls silent.
            ["Sensors360__Monitoring__SilenceThreshold"] = "00:00:10",
            ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
        };
        await using var doomed = ServerProcess.Start(database, "survivor", monitoring);
        await using var survivor = ServerProcess.Start(database, "survivor", monitoring, adminPassword: doomed.AdminPassword);
        await Task.WhenAll(doomed.WaitUntilReadyAsync(), survivor.WaitUntilReadyAsync());
        await Eventually.MatchesAsync(survivor.GetClusterAsync, view => view.Silos.Count == 2, TimeSpan.FromSeconds(30), "both silos in the cluster");

        using var operatorClient = await doomed.LoginAsync();
        var sensors = Enumerable.Range(0, 8).Select(i => $"quiet-{i}").ToList();
        foreach (var id in sensors)
        {
            var (_, token) = await ProvisionAsync(operatorClient, id);
            await StoredHeartbeatAsync(doomed.Http, id, token);
        }

        // The sensors' silo goes away before any threshold passes; only the survivor is left to notice.
        Assert.True(
            await Sql.ScalarAsync(database, "SELECT count(*) FROM alert") == 0,
            "an alert was raised before the silo stopped: the set-up took longer than the threshold");
        await doomed.StopAsync();

        await Eventually.TrueAsync(
            async () => await Sql.ScalarAsync(database, "SELECT count(DISTINCT sensor_id) FROM alert WHERE resolved_at IS NULL") == sensors.Count,
            TimeSpan.FromSeconds(60),
            "every quiet sensor has an open alert");
        Assert.Equal(sensors.Count, await Sql.ScalarAsync(database, "SELECT count(*) FROM alert"));
        Assert.Equal(0, await Sql.ScalarAsync(database, """
            SELECT count(*) FROM alert a JOIN sensor_status_rebuilt s ON s.id = a.sensor_id
            WHERE a.silent_since <> s.last_heartbeat_at + interval '10 seconds' OR a.raised_at < a.silent_since
            """));
    }
}
