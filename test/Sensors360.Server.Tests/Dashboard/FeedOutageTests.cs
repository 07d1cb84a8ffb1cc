using System.Net;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Dashboard;

/// <summary>
/// The feed through a database outage (docs/websocket.md): open sockets stay open and answered, the session checks that
/// meet the outage close nothing, what needs the database is refused with a reason, and all works again once it is back.
/// </summary>
public sealed class FeedOutageTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Through_a_database_outage_an_open_socket_stays_open_and_a_new_upgrade_is_refused_503()
    {
        await using var postgres = await ThrowawayPostgres.StartAsync();
        var database = await postgres.CreateDatabaseAsync("feed-outage");
        await using var server = ServerProcess.Start(database, "feed-outage", new Dictionary<string, string?>
        {
            // Checks every second, so the outage meets several while it lasts.
            ["Sensors360__Dashboard__SessionCheckPeriod"] = "00:00:01",
        });
        await server.WaitUntilReadyAsync();
        var cookies = await server.LoginCookiesAsync();
        using var admin = await server.LoginAsync();
        var (_, token) = await ProvisionAsync(admin, "feed-outage-1");
        await using var feed = await FeedClient.ConnectAsync(server, cookies);
        await feed.WaitForAsync("snapshot", _ => true, Patience);

        var outputBeforeOutage = server.Output.Count;
        await postgres.StopServerAsync();
        try
        {
            // Two checks of the socket's session met the outage (its cached lookup had run out, so both asked the
            // database); the socket still answers.
            await Eventually.TrueAsync(
                () => Task.FromResult(server.Output.Skip(outputBeforeOutage).Count(line => line.Contains("Could not check the dashboard sockets' sessions", StringComparison.Ordinal)) >= 2),
                Patience,
                "two session checks meet the outage");
            await feed.SendAsync("""{"type":"ping"}""");
            await feed.WaitForAsync("pong", _ => true, Patience);

            // A sensor this server does not watch yet must be looked up: refused with a reason, the socket kept.
            await feed.SendAsync("""{"type":"subscribe","sensors":["feed-outage-1"]}""");
            var refused = await feed.WaitForAsync("error", _ => true, Patience);
            Assert.Contains("could not be checked right now", refused.GetProperty("message").GetString(), StringComparison.Ordinal);

            // A new socket needs its session read from the database, once the read made when this one connected is no
            // longer trusted (as /api/auth/me shows): 503, not 401, which would send the page to its login.
            using var sameSession = new HttpClient(server.NewHandler(cookies)) { BaseAddress = server.BaseAddress };
            await Eventually.MatchesAsync(
                async () =>
                {
                    using var me = await sameSession.GetAsync(new Uri("/api/auth/me", UriKind.Relative));
                    return me.StatusCode;
                },
                status => status == HttpStatusCode.ServiceUnavailable,
                Patience,
                "the session is read from the database again");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await FeedClient.RefusedWithAsync(server, cookies));
        }
        finally
        {
            await postgres.StartServerAsync();
        }

        // Once it is back, the first try works (though the pools still hold connections the restart closed): the same
        // socket subscribes (answered before the pong, as messages are taken in order) and gets the sensor's heartbeat,
        // and a new socket is let in and fed.
        await server.WaitUntilReadyAsync();
        await feed.SendAsync("""{"type":"subscribe","sensors":["feed-outage-1"]}""");
        await feed.SendAsync("""{"type":"ping"}""");
        var answer = await feed.WaitForAsync("pong", _ => true, Patience, orError: true);
        Assert.True(answer.GetProperty("type").GetString() == "pong", $"the first subscribe after the outage: {answer}");
        await StoredHeartbeatAsync(server.Http, "feed-outage-1", token);
        await feed.WaitForAsync("sensor", message => message.GetProperty("sensor").GetProperty("heartbeatCount").GetInt64() == 1, Patience);
        await using var after = await FeedClient.ConnectAsync(server, cookies);
        await after.WaitForAsync("snapshot", _ => true, Patience);
    }
}
