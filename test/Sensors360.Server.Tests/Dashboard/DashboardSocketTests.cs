using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Server.Dashboard;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Dashboard;

/// <summary>
/// One feed socket over a real WebSocket on loopback, the silo's feed fed and ticked by the test (no grains, no
/// timers): what a socket sends and when (docs/websocket.md).
/// </summary>
public sealed class DashboardSocketTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly DateTimeOffset At = new(2026, 11, 27, 19, 45, 0, TimeSpan.Zero);
    private static readonly Alert First = new(1, "boiler-7", "silent", At.AddMinutes(-10), At.AddMinutes(-9), null, null, null);
    private static readonly Alert Second = new(2, "boiler-8", "silent", At.AddMinutes(-5), At.AddMinutes(-4), null, null, null);

    [Fact]
    public async Task The_alert_list_and_snapshot_come_at_once_then_the_newest_snapshot_once_a_tick_and_the_list_only_when_it_changed()
    {
        var feed = Feed(TimeProvider.System);
        await Push(feed, total: 1, First);
        await using var connection = await Connection.OpenAsync(feed, TimeProvider.System);

        // On connect, without waiting for a tick: the open alerts, then the snapshot.
        var list = await connection.ReceiveAsync();
        Assert.Equal("alerts", Type(list));
        Assert.Equal([1L], list.GetProperty("alerts").EnumerateArray().Select(alert => alert.GetProperty("id").GetInt64()));
        Assert.Equal(1, list.GetProperty("openAlerts").GetInt32());
        Assert.Equal(1, Total(await connection.ReceiveAsync()));

        // Newer snapshots wait for the tick; then only the newest goes, without the unchanged list.
        await Push(feed, total: 2, First);
        await Push(feed, total: 3, First);
        await connection.SendAsync("""{"type":"ping"}""");
        Assert.Equal("pong", Type(await connection.ReceiveAsync()));
        feed.Tick();
        Assert.Equal(3, Total(await connection.ReceiveAsync()));

        // Nothing newer: the next tick sends nothing (the pong comes next).
        feed.Tick();
        await connection.SendAsync("""{"type":"ping"}""");
        Assert.Equal("pong", Type(await connection.ReceiveAsync()));

        // A changed list goes before the snapshot that brought it.
        await Push(feed, total: 4, Second, First);
        feed.Tick();
        var changed = await connection.ReceiveAsync();
        Assert.Equal("alerts", Type(changed));
        Assert.Equal([2L, 1L], changed.GetProperty("alerts").EnumerateArray().Select(alert => alert.GetProperty("id").GetInt64()));
        Assert.Equal(4, Total(await connection.ReceiveAsync()));
    }

    [Fact]
    public async Task Alert_frames_go_out_at_once_and_in_the_order_they_happened()
    {
        var feed = Feed(TimeProvider.System);
        await Push(feed, total: 1);
        await using var connection = await Connection.OpenAsync(feed, TimeProvider.System);
        Assert.Equal("alerts", Type(await connection.ReceiveAsync()));
        Assert.Equal("snapshot", Type(await connection.ReceiveAsync()));

        var observer = (IDashboardObserver)feed;
        var changes = Enumerable.Range(1, 50)
            .Select(id => First with { Id = id, AcknowledgedBy = id % 2 == 0 ? "ops-anna" : null })
            .ToList();
        foreach (var change in changes)
        {
            await observer.AlertChanged(change);
        }

        foreach (var change in changes)
        {
            var frame = await connection.ReceiveAsync();
            Assert.Equal("alert", Type(frame));
            Assert.Equal(change.Id, frame.GetProperty("alert").GetProperty("id").GetInt64());
        }
    }

    [Fact]
    public async Task A_client_that_takes_nothing_for_the_drain_timeout_is_dropped_at_a_tick()
    {
        var clock = new FakeTimeProvider(At);
        var feed = Feed(clock);
        await Push(feed, total: 1);
        await using var connection = await Connection.OpenAsync(feed, clock, smallBuffers: true);

        // Alert frames the client never reads, until the server's send no longer completes.
        var observer = (IDashboardObserver)feed;
        var padded = First with { SensorId = new string('x', 60) };
        for (var i = 0; i < 1000 && connection.Server.State == WebSocketState.Open; i++)
        {
            await observer.AlertChanged(padded with { Id = i });
        }

        await Push(feed, total: 2);
        feed.Tick();
        Assert.False(connection.Running.IsCompleted, "the socket is kept while the drain timeout has not passed");

        // Each tick half a minute later (the frames may still be reaching the kernel's buffers at the first one).
        var total = 3;
        await Eventually.TrueAsync(
            async () =>
            {
                clock.Advance(TimeSpan.FromSeconds(31));
                await Push(feed, total: total++);
                feed.Tick();
                return connection.Running.IsCompleted;
            },
            Patience,
            "the stalled socket dropped");
        Assert.Equal(WebSocketState.Aborted, connection.Server.State);
    }

    [Fact]
    public async Task The_pace_sends_each_socket_its_snapshot_once_a_second_on_its_own_tenth_of_it()
    {
        const int Sockets = 10;
        var clock = new FakeTimeProvider(At);
        var feed = Feed(clock);
        await Push(feed, total: 1);
        var connections = new List<Connection>();
        try
        {
            for (var i = 0; i < Sockets; i++)
            {
                var connection = await Connection.OpenAsync(feed, clock);
                connections.Add(connection);
                Assert.Equal([1], await SnapshotsBeforePongAsync(connection));
            }

            using var pacing = new CancellationTokenSource();
            var pace = feed.PaceAsync(pacing.Token);
            var firstSecond = await SecondOfTicksAsync(feed, clock, connections, total: 2);
            var secondSecond = await SecondOfTicksAsync(feed, clock, connections, total: 3);

            // One socket a tenth, each its own once a second, in the same turn every second.
            Assert.Equal(Enumerable.Range(0, Sockets).Order(), firstSecond.Order());
            Assert.Equal(firstSecond, secondSecond);
            await pacing.CancelAsync();
            await pace.WaitAsync(Patience, TestContext.Current.CancellationToken);
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>Publishes <paramref name="total"/>, then ticks a tenth of a second at a time; which socket got it at each tick.</summary>
    private static async Task<List<int>> SecondOfTicksAsync(DashboardFeed feed, FakeTimeProvider clock, List<Connection> connections, int total)
    {
        await Push(feed, total);
        var order = new List<int>();
        for (var tick = 1; tick <= connections.Count; tick++)
        {
            clock.Advance(DashboardFeed.SnapshotEvery / connections.Count);
            // The tick runs on the timer's continuation: asked until its socket has sent, and no other socket may have.
            await Eventually.TrueAsync(
                async () =>
                {
                    for (var i = 0; i < connections.Count; i++)
                    {
                        if (!order.Contains(i) && await SnapshotsBeforePongAsync(connections[i]) is { Count: > 0 } sent)
                        {
                            Assert.Equal([total], sent);
                            order.Add(i);
                        }
                    }

                    return order.Count >= tick;
                },
                Patience,
                $"tick {tick} sending its socket the snapshot");
            Assert.Equal(tick, order.Count);
        }

        return order;
    }

    /// <summary>Pings and reads up to the pong: the totals of the snapshots that came before it.</summary>
    private static async Task<List<int>> SnapshotsBeforePongAsync(Connection connection)
    {
        await connection.SendAsync("""{"type":"ping"}""");
        var totals = new List<int>();
        for (var message = await connection.ReceiveAsync(); Type(message) != "pong"; message = await connection.ReceiveAsync())
        {
            if (Type(message) == "snapshot")
            {
                totals.Add(Total(message));
            }
        }

        return totals;
    }

    private static DashboardFeed Feed(TimeProvider time) => new(grains: null!, drain: null!, time, NullLogger<DashboardFeed>.Instance);

    private static Task Push(DashboardFeed feed, int total, params Alert[] alerts) =>
        ((IDashboardObserver)feed).SnapshotChanged(new DashboardSnapshot(
            new FleetSnapshot(new SensorCounts(total, 0, total, 0, 0), 0, null, null, null, null, null, null, 0, alerts.Length, At), alerts));

    private static string? Type(JsonElement message) => message.GetProperty("type").GetString();

    private static int Total(JsonElement message)
    {
        Assert.Equal("snapshot", Type(message));
        return message.GetProperty("fleet").GetProperty("sensors").GetProperty("total").GetInt32();
    }

    /// <summary>A <see cref="DashboardSocket"/> running on the server end of a loopback WebSocket, and the client end.</summary>
    private sealed class Connection : IAsyncDisposable
    {
        private readonly WebSocket _client;
        private readonly CancellationTokenSource _stopping = new();
        private readonly DashboardSocket _socket;

        private Connection(WebSocket server, WebSocket client, DashboardFeed feed, TimeProvider time)
        {
            Server = server;
            _client = client;
            _socket = new DashboardSocket(server, feed, watch: null!, time, NullLogger.Instance);
            Running = _socket.RunAsync(CancellationToken.None, _stopping.Token);
        }

        public WebSocket Server { get; }

        public Task Running { get; }

        /// <summary>Connects the two ends; <paramref name="smallBuffers"/>: kernel buffers of a few KiB, so a client that does not read stalls the server's sends soon.</summary>
        public static async Task<Connection> OpenAsync(DashboardFeed feed, TimeProvider time, bool smallBuffers = false)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            if (smallBuffers)
            {
                client.ReceiveBufferSize = 4096;
            }

            await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint, TestContext.Current.CancellationToken);
            var server = await listener.AcceptSocketAsync(TestContext.Current.CancellationToken);
            if (smallBuffers)
            {
                server.SendBufferSize = 4096;
            }

            return new Connection(
                WebSocket.CreateFromStream(new NetworkStream(server, ownsSocket: true), new WebSocketCreationOptions { IsServer = true }),
                WebSocket.CreateFromStream(new NetworkStream(client, ownsSocket: true), new WebSocketCreationOptions { IsServer = false }),
                feed,
                time);
        }

        public Task SendAsync(string text) =>
            _client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, TestContext.Current.CancellationToken);

        public async Task<JsonElement> ReceiveAsync() =>
            await FeedClient.ReceiveAsync(_client, Patience) ?? throw new InvalidOperationException("The server closed the socket.");

        public async ValueTask DisposeAsync()
        {
            await _stopping.CancelAsync();
            _client.Abort();
            try
            {
                await Running.WaitAsync(Patience);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
            {
                // Ended by the abort.
            }

            _socket.Dispose();
            _client.Dispose();
            Server.Dispose();
            _stopping.Dispose();
        }
    }
}
