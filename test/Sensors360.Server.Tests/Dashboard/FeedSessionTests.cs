using System.Net;
using System.Net.WebSockets;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Dashboard;

/// <summary>
/// The feed's bounds (docs/websocket.md, docs/security.md): a socket lives no longer than its session, a session
/// holds at most 20 sockets, and subscriptions are bounded and wake no grain for ids that name no sensor.
/// </summary>
public sealed class FeedSessionTests(FeedSessionTests.Server running) : IClassFixture<FeedSessionTests.Server>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    // The period is 1 s here, so "within 60 s" holds with room; the bound itself is what is asserted.
    private static readonly TimeSpan ClosedWithin = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_socket_is_closed_with_1008_after_its_session_logs_out_while_another_sessions_socket_stays()
    {
        var cookies = new CookieContainer();
        using var client = await running.Process.LoginAsync(cookies: cookies);
        await using var feed = await FeedClient.ConnectAsync(running.Process, cookies);
        await feed.WaitForAsync("snapshot", _ => true, Patience);
        await using var other = await FeedClient.ConnectAsync(running.Process, running.Cookies);

        using (var logout = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/auth/logout", UriKind.Relative)))
        {
            logout.Headers.Add("Origin", running.Process.BaseAddress.GetLeftPart(UriPartial.Authority));
            using var response = await client.SendAsync(logout, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await feed.ClosedWithAsync(ClosedWithin));
        await other.SendAsync("""{"type":"ping"}""");
        await other.WaitForAsync("pong", _ => true, Patience);
    }

    [Theory]
    [InlineData("UPDATE operator_session SET expires_at = now() - interval '1 second' WHERE key_hash = (SELECT key_hash FROM operator_session ORDER BY created_at DESC LIMIT 1)")]
    [InlineData("DELETE FROM operator_session WHERE key_hash = (SELECT key_hash FROM operator_session ORDER BY created_at DESC LIMIT 1)")]
    public async Task A_socket_is_closed_with_1008_once_its_session_expired_or_was_removed(string endNewestSession)
    {
        var cookies = new CookieContainer();
        using var client = await running.Process.LoginAsync(cookies: cookies);
        await using var feed = await FeedClient.ConnectAsync(running.Process, cookies);
        await feed.WaitForAsync("snapshot", _ => true, Patience);

        // The newest session is the one just made: the tests of this class run one at a time.
        await Sql.ScalarAsync(running.ConnectionString, endNewestSession);

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await feed.ClosedWithAsync(ClosedWithin));
    }

    [Fact]
    public async Task The_21st_socket_of_a_session_gets_429_and_closing_one_frees_its_place()
    {
        var cookies = new CookieContainer();
        using var client = await running.Process.LoginAsync(cookies: cookies);
        var feeds = new List<FeedClient>();
        try
        {
            for (var i = 0; i < 20; i++)
            {
                feeds.Add(await FeedClient.ConnectAsync(running.Process, cookies));
            }

            Assert.Equal(HttpStatusCode.TooManyRequests, await FeedClient.RefusedWithAsync(running.Process, cookies));
            // Another session is not counted with this one.
            await using (var other = await FeedClient.ConnectAsync(running.Process, running.Cookies))
            {
                await other.WaitForAsync("snapshot", _ => true, Patience);
            }

            await feeds[0].DisposeAsync();
            feeds.RemoveAt(0);
            await Eventually.TrueAsync(
                async () =>
                {
                    try
                    {
                        feeds.Add(await FeedClient.ConnectAsync(running.Process, cookies));
                        return true;
                    }
                    catch (WebSocketException)
                    {
                        return false;
                    }
                },
                Patience,
                "a 20th socket is accepted again once one closed");
        }
        finally
        {
            foreach (var feed in feeds)
            {
                await feed.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Subscribing_to_more_than_the_limit_gets_an_error_naming_it_and_the_socket_stays_open()
    {
        await using var feed = await FeedClient.ConnectAsync(running.Process, running.Cookies);
        var ids = string.Join(',', Enumerable.Range(0, 201).Select(i => $"\"over-{i}\""));
        await feed.SendAsync("{\"type\":\"subscribe\",\"sensors\":[" + ids + "]}");

        var error = await feed.WaitForAsync("error", _ => true, Patience);

        Assert.Contains("at most 200", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        await feed.SendAsync("""{"type":"ping"}""");
        await feed.WaitForAsync("pong", _ => true, Patience);
    }

    [Fact]
    public async Task Unknown_ids_get_an_error_frame_subscribe_nothing_and_wake_no_grain()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "feedknown-1");
        await using var feed = await FeedClient.ConnectAsync(running.Process, running.Cookies);

        await feed.SendAsync("""{"type":"subscribe","sensors":["feedknown-1","feedghost-1","feedghost-2"]}""");
        var error = await feed.WaitForAsync("error", _ => true, Patience);
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains("feedghost-1", message, StringComparison.Ordinal);
        Assert.Contains("feedghost-2", message, StringComparison.Ordinal);
        Assert.DoesNotContain("feedknown-1", message, StringComparison.Ordinal);

        // All or nothing: the known sensor was not subscribed either; subscribed alone, its heartbeats arrive.
        await feed.SendAsync("""{"type":"subscribe","sensors":["feedknown-1"]}""");
        await feed.SendAsync("""{"type":"ping"}""");
        await feed.WaitForAsync("pong", _ => true, Patience);
        await StoredHeartbeatAsync(running.Process.Http, "feedknown-1", token);

        await feed.WaitForAsync("sensor", frame => frame.GetProperty("sensor").GetProperty("id").GetString() == "feedknown-1", Patience);

        // A fence in the log: a heartbeat for an unknown id does wake its grain, and the log is written in order, so
        // once that line is there, an activation for the subscribed ghosts would be there before it.
        using (var fence = await HeartbeatAsync(running.Process.Http, "feedfence-1", token))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, fence.StatusCode);
        }

        await running.Process.LoggedAsync(Server.Activated("feedfence-1"), "the fence's grain activation is logged", Patience);
        Assert.DoesNotContain(running.Process.Output, line => line.Contains(Server.Activated("feedghost-1"), StringComparison.Ordinal));
        Assert.DoesNotContain(running.Process.Output, line => line.Contains(Server.Activated("feedghost-2"), StringComparison.Ordinal));
    }

    /// <summary>A server of this class's own: sessions checked every second, and sensor grain activations logged.</summary>
    public sealed class Server(ThrowawayPostgres postgres) : IAsyncLifetime
    {
        private ServerProcess? _process;

        public ServerProcess Process => _process ?? throw new InvalidOperationException("Not started.");

        public string ConnectionString { get; private set; } = "";

        public HttpClient Operator { get; private set; } = null!;

        public CookieContainer Cookies { get; } = new();

        /// <summary>The server's log line for a sensor grain's activation (each one reads the sensor's row).</summary>
        public static string Activated(string sensorId) => $"Sensor grain {sensorId} activated";

        public async ValueTask InitializeAsync()
        {
            ConnectionString = await postgres.CreateDatabaseAsync(nameof(FeedSessionTests));
            _process = ServerProcess.Start(ConnectionString, $"feed-sessions-{Guid.NewGuid():N}", new Dictionary<string, string?>
            {
                ["Sensors360__Dashboard__SessionCheckPeriod"] = "00:00:01",
                ["Logging__LogLevel__Sensors360.Grains.Sensors.SensorGrain"] = "Debug",
            });
            await _process.WaitUntilReadyAsync();
            Operator = await _process.LoginAsync(cookies: Cookies);
        }

        public async ValueTask DisposeAsync()
        {
            Operator?.Dispose();
            if (_process is not null)
            {
                await _process.DisposeAsync();
            }
        }
    }
}
