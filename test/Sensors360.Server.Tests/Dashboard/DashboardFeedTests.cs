using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Dashboard;

/// <summary>The live feed's contract (docs/websocket.md) against a real server.</summary>
public sealed class DashboardFeedTests(RunningServer running) : IClassFixture<RunningServer>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Upgrades_without_a_session_or_from_another_origin_are_refused()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await FeedClient.RefusedWithAsync(running.Server, cookies: null));
        var cookies = running.OperatorCookies;
        Assert.Equal(HttpStatusCode.Forbidden, await FeedClient.RefusedWithAsync(running.Server, cookies, origin: "http://evil.example"));
        Assert.Equal(HttpStatusCode.Forbidden, await FeedClient.RefusedWithAsync(running.Server, cookies, origin: "null"));
    }

    [Fact]
    public async Task A_snapshot_arrives_within_a_second_of_connecting_and_matches_api_fleet()
    {
        await ProvisionAsync(running.Operator, "feed-snap-1");
        await using var feed = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies);

        var snapshot = await feed.WaitForAsync("snapshot", _ => true, TimeSpan.FromSeconds(1));

        var fleet = snapshot.GetProperty("fleet");
        foreach (var field in new[] { "sensors", "silentPercent", "meanHeartbeatIntervalSeconds", "recentMeanHeartbeatIntervalSeconds", "meanLifespanSeconds", "heartbeatsPerSecond", "openAlerts", "at" })
        {
            Assert.True(fleet.TryGetProperty(field, out _), $"fleet.{field} missing in {fleet}");
        }

        Assert.False(snapshot.TryGetProperty("alerts", out _), "the open alerts come in their own frame");
        var total = await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM sensor");
        await Eventually.TrueAsync(
            async () => (await running.Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/fleet", UriKind.Relative)))
                .GetProperty("sensors").GetProperty("total").GetInt64() == total,
            Patience,
            "/api/fleet counts every provisioned sensor");
    }

    [Fact]
    public async Task A_subscribed_sensors_heartbeat_reaches_the_client_and_alerts_are_pushed()
    {
        var (_, token) = await ProvisionAsync(running.Operator, "feed-sub-1");
        await using var feed = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies);
        await feed.SendAsync("""{"type":"subscribe","sensors":["feed-sub-1"]}""");
        await feed.SendAsync("""{"type":"ping"}""");
        await feed.WaitForAsync("pong", _ => true, Patience);

        await StoredHeartbeatAsync(running.Server.Http, "feed-sub-1", token);

        // The frame of the heartbeat: on a slow machine one saying the sensor never reported may come before it.
        var sensor = await feed.WaitForAsync(
            "sensor",
            message => message.GetProperty("sensor").GetProperty("id").GetString() == "feed-sub-1"
                && message.GetProperty("sensor").GetProperty("heartbeatCount").GetInt64() >= 1,
            Patience);
        Assert.Equal("online", sensor.GetProperty("sensor").GetProperty("status").GetString());
        Assert.Equal(1, sensor.GetProperty("sensor").GetProperty("heartbeatCount").GetInt64());

        // The fixture's threshold is 2 s: silence follows, and with it an alert frame (on a slow machine a never-reported
        // one may come first, resolved by the heartbeat: not the one looked for).
        var alert = await feed.WaitForAsync(
            "alert",
            message => message.GetProperty("alert").GetProperty("sensorId").GetString() == "feed-sub-1"
                && message.GetProperty("alert").GetProperty("kind").GetString() != "never-reported",
            Patience);
        Assert.Equal("silent", alert.GetProperty("alert").GetProperty("kind").GetString());
        Assert.Equal(JsonValueKind.Null, alert.GetProperty("alert").GetProperty("resolvedAt").ValueKind);
    }

    [Theory]
    [InlineData("""{"type":"dance"}""")]
    [InlineData("""not json""")]
    [InlineData("""{"type":"subscribe","sensors":"x"}""")]
    [InlineData("""{"type":"subscribe","sensors":["bad id"]}""")]
    [InlineData("""[1,2]""")]
    public async Task Bad_messages_get_an_error_frame_and_the_socket_stays_open(string message)
    {
        await using var feed = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies);
        await feed.SendAsync(message);

        var error = await feed.WaitForAsync("error", _ => true, Patience);

        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        await feed.SendAsync("""{"type":"ping"}""");
        await feed.WaitForAsync("pong", _ => true, Patience);
    }

    [Fact]
    public async Task A_binary_frame_closes_with_1003_and_an_oversized_message_with_1009()
    {
        await using (var binary = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies))
        {
            await binary.Socket.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, TestContext.Current.CancellationToken);
            Assert.Equal(WebSocketCloseStatus.InvalidMessageType, await binary.ClosedWithAsync(Patience));
        }

        await using var big = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies);
        await big.SendAsync(Encoding.UTF8.GetString(Ping(17 * 1024)));
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await big.ClosedWithAsync(Patience));
    }

    [Fact]
    public async Task A_message_of_16_KiB_in_fragments_is_answered_and_one_byte_more_closes_with_1009()
    {
        // docs/websocket.md: 16 KiB is allowed, however the client splits it into frames.
        const int Limit = 16 * 1024;
        await using (var atLimit = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies))
        {
            await SendInFragmentsAsync(atLimit.Socket, Ping(Limit));
            await atLimit.WaitForAsync("pong", _ => true, Patience);
            // The socket goes on reading messages after a large one.
            await atLimit.SendAsync("""{"type":"ping"}""");
            await atLimit.WaitForAsync("pong", _ => true, Patience);
        }

        await using var over = await FeedClient.ConnectAsync(running.Server, running.OperatorCookies);
        await SendInFragmentsAsync(over.Socket, Ping(Limit + 1));
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await over.ClosedWithAsync(Patience));
    }

    /// <summary>A ping message of exactly <paramref name="bytes"/> bytes of UTF-8.</summary>
    private static byte[] Ping(int bytes)
    {
        const string Start = "{\"type\":\"ping\",\"pad\":\"", End = "\"}";
        var json = Encoding.UTF8.GetBytes(Start + new string('x', bytes - Start.Length - End.Length) + End);
        Assert.Equal(bytes, json.Length);
        return json;
    }

    /// <summary>Sends <paramref name="message"/> as one text message in frames of uneven sizes, the first a single byte.</summary>
    private static async Task SendInFragmentsAsync(WebSocket socket, byte[] message)
    {
        var cancellation = TestContext.Current.CancellationToken;
        int[] cuts = [1, 700, message.Length / 2];
        var sent = 0;
        foreach (var cut in cuts)
        {
            await socket.SendAsync(message.AsMemory(sent, cut - sent), WebSocketMessageType.Text, endOfMessage: false, cancellation);
            sent = cut;
        }

        await socket.SendAsync(message.AsMemory(sent), WebSocketMessageType.Text, endOfMessage: true, cancellation);
    }
}
