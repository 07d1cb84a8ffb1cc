using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Sensors360.Testing;

namespace Sensors360.Cluster.Tests;

/// <summary>How one dashboard connection ended: the close status the server sent (null: the connection broke without one).</summary>
internal sealed record SocketEnd(int Socket, DateTimeOffset At, WebSocketCloseStatus? Status);

/// <summary>
/// Dashboard sockets through the balancer, kept open as the page keeps its one: when a connection ends the
/// socket connects again (through the balancer, every 250 ms until it is let in) and waits for the snapshot
/// a new connection starts with. Every end and every snapshot-started connection is recorded.
/// </summary>
internal sealed class DashboardSockets : IAsyncDisposable
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);

    private readonly Uri _feed;
    private readonly string _origin;
    private readonly CookieContainer _cookies;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<SocketEnd> _ends = new();
    private readonly int[] _connections;
    private readonly Task[] _loops;

    private DashboardSockets(Uri balancer, CookieContainer cookies, int count)
    {
        _feed = new UriBuilder(balancer) { Scheme = "ws", Path = "/ws/dashboard" }.Uri;
        _origin = balancer.GetLeftPart(UriPartial.Authority);
        _cookies = cookies;
        _connections = new int[count];
        _loops = [.. Enumerable.Range(0, count).Select(socket => Task.Run(() => KeepOpenAsync(socket)))];
    }

    /// <summary>Every connection that ended, in the order they ended.</summary>
    public IReadOnlyList<SocketEnd> Ends => [.. _ends];

    /// <summary>Connections of the socket that received their first snapshot.</summary>
    public int Connections(int socket) => Volatile.Read(ref _connections[socket]);

    public int Count => _connections.Length;

    public static DashboardSockets Open(Uri balancer, CookieContainer cookies, int count) => new(balancer, cookies, count);

    /// <summary>Waits until every socket has at least <paramref name="connections"/> connections that began with a snapshot.</summary>
    public Task WaitForConnectionsAsync(Func<int, int> connections, TimeSpan timeout) => Eventually.TrueAsync(
        () => Task.FromResult(Enumerable.Range(0, Count).All(socket => Connections(socket) >= connections(socket))),
        timeout,
        "every dashboard socket connected with a snapshot");

    private async Task KeepOpenAsync(int socket)
    {
        while (!_stop.IsCancellationRequested)
        {
            using var client = new ClientWebSocket();
            client.Options.Cookies = _cookies;
            client.Options.SetRequestHeader("Origin", _origin);
            try
            {
                await client.ConnectAsync(_feed, _stop.Token);
            }
            catch (Exception e) when (e is WebSocketException or HttpRequestException)
            {
                // Refused (no silo up yet, or the balancer's 503): the page tries again too.
                await DelayAsync(RetryDelay);
                continue;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var status = await ReadUntilClosedAsync(client, socket);
            if (_stop.IsCancellationRequested)
            {
                return;
            }

            _ends.Enqueue(new SocketEnd(socket, TimeProvider.System.GetUtcNow(), status));
        }
    }

    /// <summary>Counts the connection once its first snapshot arrives; returns how it ended.</summary>
    private async Task<WebSocketCloseStatus?> ReadUntilClosedAsync(ClientWebSocket client, int socket)
    {
        var buffer = new byte[256 * 1024];
        var snapshotSeen = false;
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await client.ReceiveAsync(buffer.AsMemory(length), _stop.Token);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        // Answered as a browser answers it, so the server's close handshake completes.
                        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                        return client.CloseStatus;
                    }

                    length += result.Count;
                }
                while (!result.EndOfMessage);

                if (!snapshotSeen && IsSnapshot(buffer.AsSpan(0, length)))
                {
                    snapshotSeen = true;
                    Interlocked.Increment(ref _connections[socket]);
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException)
        {
            return null;
        }
        catch (OperationCanceledException)
        {
            return client.CloseStatus;
        }
    }

    private static bool IsSnapshot(ReadOnlySpan<byte> message)
    {
        var reader = new Utf8JsonReader(message);
        using var document = JsonDocument.ParseValue(ref reader);
        return document.RootElement.TryGetProperty("type", out var type) && type.GetString() == "snapshot";
    }

    private async Task DelayAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _stop.Token);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops);
        _stop.Dispose();
    }

    /// <summary>For messages: each end as "socket: status".</summary>
    public static string Describe(IEnumerable<SocketEnd> ends) =>
        string.Join(", ", ends.Select(end => $"{end.Socket}: {(end.Status is { } status ? ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture) : "broken")}"));
}
