using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Sensors360.Bench;

/// <summary>
/// Many dashboard sockets held open on <c>/ws/dashboard</c>, each reading every message the server sends, as the
/// page does. Sessions are the bootstrap admin's, logged in as often as the sockets need (the server lets one
/// session hold <see cref="SocketsPerSession"/> sockets); the logins come from several loopback addresses
/// (127.0.0.2, 127.0.0.3, ...), because the server allows each address only a few logins a minute.
/// </summary>
internal sealed class FeedSockets : IAsyncDisposable
{
    /// <summary>The server's limit per session and silo (FeedSessions.MaxSocketsPerSession).</summary>
    public const int SocketsPerSession = 20;

    // Below the server's logins per address and minute (OperatorAuthApi.LoginAttemptsPerMinute = 10).
    private const int LoginsPerAddress = 8;

    private readonly CancellationTokenSource _stop = new();
    private readonly List<ClientWebSocket> _sockets = [];
    private readonly List<Task> _readers = [];
    private long _snapshots;
    private long _snapshotBytes;
    private long _bytes;
    private long _messages;
    private long _broken;
    private string? _sample;

    /// <summary>Snapshot messages received so far, over all sockets.</summary>
    public long Snapshots => Interlocked.Read(ref _snapshots);

    /// <summary>Bytes of the snapshot messages received so far (payload only, not the WebSocket framing).</summary>
    public long SnapshotBytes => Interlocked.Read(ref _snapshotBytes);

    /// <summary>Bytes of every message received so far.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Messages of every type received so far.</summary>
    public long Messages => Interlocked.Read(ref _messages);

    /// <summary>The text of one snapshot message received, to show what a snapshot holds; null before the first.</summary>
    public string? SampleSnapshot => Volatile.Read(ref _sample);

    /// <summary>Sockets that ended while they should have stayed open.</summary>
    public long Broken => Interlocked.Read(ref _broken);

    public int Count => _sockets.Count;

    public static async Task<FeedSockets> OpenAsync(Uri server, string password, int count, CancellationToken cancellationToken)
    {
        var feed = new FeedSockets();
        var origin = server.GetLeftPart(UriPartial.Authority);
        var uri = new UriBuilder(server) { Scheme = server.Scheme == "https" ? "wss" : "ws", Path = "/ws/dashboard" }.Uri;
        var sessions = (count + SocketsPerSession - 1) / SocketsPerSession;
        for (var session = 0; session < sessions; session++)
        {
            var cookies = await LoginAsync(server, origin, password, IPAddress.Parse($"127.0.0.{2 + (session / LoginsPerAddress)}"), cancellationToken);
            var sockets = Math.Min(SocketsPerSession, count - (session * SocketsPerSession));
            // A session's sockets connect together; sessions one after another, so the server is never flooded.
            await Task.WhenAll(Enumerable.Range(0, sockets).Select(_ => feed.ConnectAsync(uri, origin, cookies, cancellationToken)));
        }

        return feed;
    }

    /// <summary>Waits until every socket received at least one snapshot (each connection starts with one).</summary>
    public async Task WaitForFirstSnapshotsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (Snapshots < Count)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), deadline.Token);
        }
    }

    /// <summary>
    /// Waits until a whole second passes in which the sockets received nothing but snapshots: alert frames queued
    /// for them (every alert raised or resolved goes to every socket) have all arrived.
    /// </summary>
    public async Task WaitUntilOnlySnapshotsArriveAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        long others;
        do
        {
            others = Messages - Snapshots;
            await Task.Delay(TimeSpan.FromSeconds(1), deadline.Token);
        }
        while (Messages - Snapshots != others);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var socket in _sockets)
        {
            socket.Abort();
            socket.Dispose();
        }

        await Task.WhenAll(_readers).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
    }

    private async Task ConnectAsync(Uri uri, string origin, CookieContainer cookies, CancellationToken cancellationToken)
    {
        // As the page does: a 503 (the session lookup's database busy on a loaded machine) is tried again, a few times.
        const int Attempts = 5;
        ClientWebSocket socket;
        for (var attempt = 1; ; attempt++)
        {
            socket = new ClientWebSocket();
            socket.Options.Cookies = cookies;
            socket.Options.SetRequestHeader("Origin", origin);
            socket.Options.CollectHttpResponseDetails = true;
            try
            {
                await socket.ConnectAsync(uri, cancellationToken);
                break;
            }
            catch (WebSocketException) when (socket.HttpStatusCode == HttpStatusCode.ServiceUnavailable && attempt < Attempts)
            {
                socket.Dispose();
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }

        lock (_sockets)
        {
            _sockets.Add(socket);
            _readers.Add(Task.Run(() => ReadAsync(socket), CancellationToken.None));
        }
    }

    private async Task ReadAsync(ClientWebSocket socket)
    {
        var buffer = new byte[4096];
        var first = true;
        var snapshot = false;
        var length = 0L;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var received = await socket.ReceiveAsync(buffer, _stop.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    Interlocked.Increment(ref _broken);
                    return;
                }

                // Told by the start of each message: {"type":"snapshot",...
                if (first)
                {
                    snapshot = buffer.AsSpan(0, received.Count).IndexOf("\"snapshot\""u8) >= 0;
                    length = 0;
                    if (snapshot && received.EndOfMessage && Volatile.Read(ref _sample) is null)
                    {
                        Volatile.Write(ref _sample, System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count));
                    }
                }

                length += received.Count;
                if (received.EndOfMessage)
                {
                    Interlocked.Add(ref _bytes, length);
                    Interlocked.Increment(ref _messages);
                    if (snapshot)
                    {
                        Interlocked.Increment(ref _snapshots);
                        Interlocked.Add(ref _snapshotBytes, length);
                    }
                }

                first = received.EndOfMessage;
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (WebSocketException)
        {
            if (!_stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref _broken);
            }
        }
    }

    /// <summary>A new session of the bootstrap admin, logged in from <paramref name="address"/>: its cookie.</summary>
    private static async Task<CookieContainer> LoginAsync(Uri server, string origin, string password, IPAddress address, CancellationToken cancellationToken)
    {
        var cookies = new CookieContainer();
        using var handler = new SocketsHttpHandler
        {
            CookieContainer = cookies,
            ConnectCallback = async (context, token) =>
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(address, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, token);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        using var client = new HttpClient(handler) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Add("Origin", origin);
        using var response = await client.PostAsJsonAsync(new Uri("/api/auth/login", UriKind.Relative), new { username = "admin", password }, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Login from {address} failed with {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }

        return cookies;
    }
}
