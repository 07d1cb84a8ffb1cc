using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Dashboard;

/// <summary>A browser's end of <c>/ws/dashboard</c>, as tests drive it.</summary>
internal sealed class FeedClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();

    private FeedClient()
    {
    }

    public WebSocket Socket => _socket;

    public static async Task<FeedClient> ConnectAsync(ServerProcess server, CookieContainer? cookies, string? origin = null)
    {
        var (client, uri) = Prepare(server, cookies, origin);
        await client._socket.ConnectAsync(uri, TestContext.Current.CancellationToken);
        return client;
    }

    /// <summary>
    /// A client whose socket takes in almost nothing unless read (a 4 KiB receive buffer), so a test can
    /// play a browser that stopped reading without megabytes of kernel buffers hiding it.
    /// </summary>
    public static async Task<FeedClient> ConnectStingyAsync(ServerProcess server, CookieContainer cookies)
    {
        var (client, uri) = Prepare(server, cookies: null, origin: null);
        var handler = new SocketsHttpHandler
        {
            CookieContainer = cookies,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)
                {
                    ReceiveBufferSize = 4096,
                };
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        };
        using var invoker = new HttpMessageInvoker(handler);
        await client._socket.ConnectAsync(uri, invoker, TestContext.Current.CancellationToken);
        return client;
    }

    /// <summary>The status an upgrade was refused with.</summary>
    public static async Task<HttpStatusCode> RefusedWithAsync(ServerProcess server, CookieContainer? cookies, string? origin = null)
    {
        var (client, uri) = Prepare(server, cookies, origin);
        await Assert.ThrowsAsync<WebSocketException>(() => client._socket.ConnectAsync(uri, TestContext.Current.CancellationToken));
        var status = client._socket.HttpStatusCode;
        await client.DisposeAsync();
        return status;
    }

    private static (FeedClient Client, Uri Uri) Prepare(ServerProcess server, CookieContainer? cookies, string? origin)
    {
        var client = new FeedClient();
        client._socket.Options.CollectHttpResponseDetails = true;
        client._socket.Options.Cookies = cookies;
        client._socket.Options.SetRequestHeader("Origin", origin ?? server.BaseAddress.GetLeftPart(UriPartial.Authority));
        return (client, new UriBuilder(server.BaseAddress) { Scheme = "ws", Path = "/ws/dashboard" }.Uri);
    }

    public Task SendAsync(string text) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, TestContext.Current.CancellationToken);

    /// <summary>The next text message, or null when the server closed the socket.</summary>
    public Task<JsonElement?> ReceiveAsync(TimeSpan timeout) => ReceiveAsync(_socket, timeout);

    /// <summary>The next message on <paramref name="socket"/>, which must be text (JSON), or null when the other side closed it.</summary>
    public static async Task<JsonElement?> ReceiveAsync(WebSocket socket, TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(timeout);
        var buffer = new byte[256 * 1024];
        var length = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer.AsMemory(length), deadline.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            Assert.Equal(WebSocketMessageType.Text, result.MessageType);
            length += result.Count;
        }
        while (!result.EndOfMessage);

        return JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
    }

    /// <summary>
    /// Reads until a message of <paramref name="type"/> that <paramref name="accept"/> accepts arrives, or with
    /// <paramref name="orError"/> an <c>error</c> frame, which it returns instead.
    /// </summary>
    public async Task<JsonElement> WaitForAsync(string type, Func<JsonElement, bool> accept, TimeSpan timeout, bool orError = false)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            var message = await ReceiveAsync(timeout - clock.Elapsed) ?? throw new InvalidOperationException($"The server closed the socket ({_socket.CloseStatus}) while waiting for {type}.");
            var received = message.GetProperty("type").GetString();
            if ((received == type && accept(message)) || (orError && received == "error"))
            {
                return message;
            }
        }

        throw new TimeoutException($"No matching {type} message within {timeout}.");
    }

    /// <summary>Reads until the server closes the socket; returns its close status.</summary>
    public async Task<WebSocketCloseStatus?> ClosedWithAsync(TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < timeout && await ReceiveAsync(timeout - clock.Elapsed) is not null)
        {
        }

        return _socket.CloseStatus;
    }

    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            }
            catch (WebSocketException)
            {
            }
        }

        _socket.Dispose();
    }
}
