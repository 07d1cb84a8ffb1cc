using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Sensors360.Bench;

/// <summary>
/// Many dashboard sockets held open on <c>/ws/dashboard</c>, each reading every message the server sends. Sessions are
/// the bootstrap admin's, logged in as often as the sockets need (the server lets one session hold
/// <see cref="SocketsPerSession"/> sockets); the logins come from several loopback addresses (127.0.0.2, 127.0.0.3,
/// ...), because the server allows each address only a few logins a minute.
/// <para>
/// The client shares the 2 cores with the server it measures, so it reads as cheaply as it can: one thread walks every
/// socket once per <see cref="ReadEvery"/> with a non-blocking receive and parses the frames itself (RFC 6455, server
/// frames are unmasked), instead of a <c>ClientWebSocket</c> per socket whose every message is an epoll wake-up, a
/// thread-pool work item and an async receive (0.21–0.28 cores for 10,000 snapshots a second on a 2-core EPYC). The
/// server sends exactly as to a browser: what it sends waits in the kernel's receive buffer until the next walk.
/// </para>
/// <para>
/// Each socket connects and upgrades with blocking calls, so it is never registered with .NET's epoll engine: once
/// registered (any asynchronous call does it, for the socket's life), every frame that arrives wakes that engine's
/// thread here, and the server's send pays for the wake-up. Together 0.14 cores of 10,000 snapshots a second; 0.04 without.
/// </para>
/// </summary>
internal sealed class FeedSockets : IAsyncDisposable
{
    /// <summary>The server's limit per session and silo (FeedSessions.MaxSocketsPerSession).</summary>
    public const int SocketsPerSession = 20;

    /// <summary>How often every socket is read: counts read at a moment are up to this much behind.</summary>
    public static readonly TimeSpan ReadEvery = TimeSpan.FromSeconds(1);

    // Each blocking call of the connect and upgrade gives up after this long (the server answers in milliseconds).
    private static readonly TimeSpan UpgradeTimeout = TimeSpan.FromSeconds(60);

    // Below the server's logins per address and minute (OperatorAuthApi.LoginAttemptsPerMinute = 10).
    private const int LoginsPerAddress = 8;

    private readonly CancellationTokenSource _stop = new();
    private readonly List<Connection> _sockets = [];
    private readonly Thread _reader;
    private readonly TaskCompletionSource _readerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _walked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // The one reader thread's receive buffer: a socket keeps only the tail of a frame that had not all arrived.
    private byte[] _scratch = new byte[64 * 1024];
    private long _snapshots;
    private long _snapshotBytes;
    private long _bytes;
    private long _messages;
    private long _broken;
    private string? _sample;
    private SnapshotTally? _tally;

    private FeedSockets()
    {
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "feed-sockets" };
        _reader.Start();
    }

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

    public int Count
    {
        get
        {
            lock (_sockets)
            {
                return _sockets.Count;
            }
        }
    }

    /// <summary>
    /// Sessions of the bootstrap admin for <paramref name="sockets"/> sockets (<see cref="SocketsPerSession"/> each), logged
    /// in once: every <see cref="OpenAsync"/> after that connects with them, without a password hash per session.
    /// </summary>
    public static async Task<IReadOnlyList<CookieContainer>> LoginAsync(Uri server, string password, int sockets, CancellationToken cancellationToken)
    {
        var origin = server.GetLeftPart(UriPartial.Authority);
        var sessions = new List<CookieContainer>();
        for (var session = 0; session < (sockets + SocketsPerSession - 1) / SocketsPerSession; session++)
        {
            sessions.Add(await LoginFromAsync(server, origin, password, IPAddress.Parse($"127.0.0.{2 + (session / LoginsPerAddress)}"), cancellationToken));
        }

        return sessions;
    }

    /// <summary><paramref name="count"/> sockets, <see cref="SocketsPerSession"/> on each of <paramref name="sessions"/> in turn.</summary>
    public static async Task<FeedSockets> OpenAsync(Uri server, IReadOnlyList<CookieContainer> sessions, int count, CancellationToken cancellationToken)
    {
        if (server.Scheme != Uri.UriSchemeHttp)
        {
            throw new ArgumentException("The dashboard sockets read plain TCP: the bench's server listens on http.", nameof(server));
        }

        if (count > sessions.Count * SocketsPerSession)
        {
            throw new ArgumentException($"{sessions.Count} sessions hold at most {sessions.Count * SocketsPerSession} sockets, not {count}.", nameof(count));
        }

        var feed = new FeedSockets();
        try
        {
            var origin = server.GetLeftPart(UriPartial.Authority);
            for (var session = 0; session * SocketsPerSession < count; session++)
            {
                var sockets = Math.Min(SocketsPerSession, count - (session * SocketsPerSession));
                // A session's sockets connect at once, as far as the pool's threads allow; sessions one after another, so
                // the server is never flooded.
                await Task.WhenAll(Enumerable.Range(0, sockets).Select(_ => feed.ConnectAsync(server, origin, sessions[session], cancellationToken)));
            }
        }
        catch
        {
            await feed.DisposeAsync();
            throw;
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
            await NextWalkAsync(deadline.Token);
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
            // What arrived in that second is counted by the first walk that starts after it.
            await NextWalkAsync(deadline.Token);
            await NextWalkAsync(deadline.Token);
        }
        while (Messages - Snapshots != others);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _readerDone.Task;
        lock (_sockets)
        {
            foreach (var connection in _sockets)
            {
                connection.Socket.Dispose();
            }
        }

        _stop.Dispose();
    }

    /// <summary>
    /// The snapshots received when the next walk over the sockets ends, and when it ended: two of these bracket a run
    /// exactly, where counts read at any moment are up to a walk behind.
    /// </summary>
    public async Task<SnapshotTally> NextTallyAsync(CancellationToken cancellationToken)
    {
        await NextWalkAsync(cancellationToken);
        return Volatile.Read(ref _tally)!;
    }

    /// <summary>Completes when the walk over the sockets that is under way (or the next one) has ended.</summary>
    private Task NextWalkAsync(CancellationToken cancellationToken) => Volatile.Read(ref _walked).Task.WaitAsync(cancellationToken);

    private async Task ConnectAsync(Uri server, string origin, CookieContainer cookies, CancellationToken cancellationToken)
    {
        // As the page does: a 503 (the session lookup's database busy on a loaded machine) is tried again, a few times.
        const int Attempts = 5;
        for (var attempt = 1; ; attempt++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                // Blocking calls, on a pool thread: an asynchronous one would register the socket with .NET's epoll
                // engine for good, and every frame the server sends would then wake that engine's thread in this client.
                var (status, frames) = await Task.Run(
                    () =>
                    {
                        socket.SendTimeout = socket.ReceiveTimeout = (int)UpgradeTimeout.TotalMilliseconds;
                        socket.Connect(server.Host, server.Port);
                        return Upgrade(socket, server, origin, cookies);
                    },
                    cancellationToken);
                if (status == 101)
                {
                    socket.Blocking = false;
                    var connection = new Connection(socket) { Carry = frames };
                    lock (_sockets)
                    {
                        _sockets.Add(connection);
                    }

                    return;
                }

                socket.Dispose();
                if (status != (int)HttpStatusCode.ServiceUnavailable || attempt == Attempts)
                {
                    throw new InvalidOperationException($"The dashboard socket's upgrade was answered {status}.");
                }
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
    }

    /// <summary>
    /// Sends the upgrade request and reads the response's head: its status, and whatever frames followed the head in the
    /// same reads (the server sends the first ones at once).
    /// </summary>
    private static (int Status, byte[]? Frames) Upgrade(Socket socket, Uri server, string origin, CookieContainer cookies)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET /ws/dashboard HTTP/1.1\r\nHost: {server.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n" +
            $"Cookie: {cookies.GetCookieHeader(new Uri(server, "/ws/dashboard"))}\r\n\r\n";
        socket.Send(Encoding.ASCII.GetBytes(request), SocketFlags.None);

        var buffer = new byte[8192];
        var length = 0;
        int end;
        while ((end = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (length == buffer.Length)
            {
                throw new InvalidOperationException("The dashboard socket's upgrade response has a head over 8 KiB.");
            }

            var read = socket.Receive(buffer.AsSpan(length), SocketFlags.None);
            if (read == 0)
            {
                throw new InvalidOperationException("The server closed the dashboard socket during its upgrade.");
            }

            length += read;
        }

        var head = Encoding.ASCII.GetString(buffer, 0, end);
        // "HTTP/1.1 101 Switching Protocols"
        var status = int.Parse(head.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
        if (status == 101)
        {
            // RFC 6455 fixes SHA-1 for the accept key: a check that the server read this key, not a use for security.
#pragma warning disable CA5350
            var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
            if (!head.Contains($"Sec-WebSocket-Accept: {accept}", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"The dashboard socket's upgrade was not accepted for its key: {head}");
            }
        }

        var rest = length - (end + 4);
        return (status, rest > 0 ? buffer.AsSpan(end + 4, rest).ToArray() : null);
    }

    private void ReadLoop()
    {
        try
        {
            var walk = new List<Connection>();
            do
            {
                walk.Clear();
                lock (_sockets)
                {
                    walk.AddRange(_sockets);
                }

                foreach (var connection in walk)
                {
                    if (!connection.Ended)
                    {
                        try
                        {
                            Read(connection);
                        }
                        catch (Exception e) when (e is InvalidOperationException or SocketException or OutOfMemoryException or OverflowException)
                        {
                            // A frame this client cannot take ends its socket, counted as broken, not the bench.
                            End(connection);
                        }
                    }
                }

                Volatile.Write(ref _tally, new SnapshotTally(Snapshots, SnapshotBytes, System.Diagnostics.Stopwatch.GetTimestamp()));
                Interlocked.Exchange(ref _walked, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
            while (!_stop.Token.WaitHandle.WaitOne(ReadEvery));
        }
        finally
        {
            _walked.TrySetCanceled();
            _readerDone.TrySetResult();
        }
    }

    /// <summary>Reads everything that waits on <paramref name="connection"/> without blocking, and counts its messages.</summary>
    private void Read(Connection connection)
    {
        var length = 0;
        if (connection.Carry is { } carry)
        {
            carry.CopyTo(_scratch, 0);
            connection.Carry = null;
            // Whole frames may wait here already: those that came in the same reads as the upgrade's answer.
            var used = ReadFrames(connection, carry);
            carry.AsSpan(used).CopyTo(_scratch);
            length = carry.Length - used;
            if (connection.Ended)
            {
                return;
            }
        }

        while (true)
        {
            if (length == _scratch.Length)
            {
                Array.Resize(ref _scratch, _scratch.Length * 2);
            }

            var read = connection.Socket.Receive(_scratch.AsSpan(length), SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                break;
            }

            if (error != SocketError.Success || read == 0)
            {
                End(connection);
                return;
            }

            var drained = length + read < _scratch.Length;
            length += read;
            var used = ReadFrames(connection, _scratch.AsSpan(0, length));
            _scratch.AsSpan(used, length - used).CopyTo(_scratch);
            length -= used;
            // A read that left room in the buffer took all the kernel had: asking again would be a second system call
            // per socket and walk, only to hear that nothing is left.
            if (connection.Ended || drained)
            {
                break;
            }
        }

        if (connection.Ended)
        {
            return;
        }

        // The frames that had arrived whole were counted above; what is left is the start of one still arriving.
        connection.Carry = length > 0 ? _scratch.AsSpan(0, length).ToArray() : null;
    }

    /// <summary>Counts the whole frames at the start of <paramref name="data"/>; returns how many bytes they took.</summary>
    private int ReadFrames(Connection connection, ReadOnlySpan<byte> data)
    {
        var used = 0;
        while (!connection.Ended && TryFrame(data[used..], out var final, out var opcode, out var payload, out var size))
        {
            used += size;
            switch (opcode)
            {
                case 0x8:
                    End(connection);
                    break;
                case 0x9:
                    Pong(connection, payload);
                    break;
                case 0xA:
                    break;
                default:
                    // A text frame starts a message, continuation frames (0) go on with it; told by its start: {"type":"snapshot",...
                    if (opcode != 0)
                    {
                        connection.MessageIsSnapshot = payload.StartsWith("{\"type\":\"snapshot\""u8);
                        connection.MessageLength = 0;
                        if (connection.MessageIsSnapshot && final && Volatile.Read(ref _sample) is null)
                        {
                            Volatile.Write(ref _sample, Encoding.UTF8.GetString(payload));
                        }
                    }

                    connection.MessageLength += payload.Length;
                    if (final)
                    {
                        Interlocked.Add(ref _bytes, connection.MessageLength);
                        Interlocked.Increment(ref _messages);
                        if (connection.MessageIsSnapshot)
                        {
                            Interlocked.Increment(ref _snapshots);
                            Interlocked.Add(ref _snapshotBytes, connection.MessageLength);
                        }
                    }

                    break;
            }
        }

        return used;
    }

    /// <summary>One whole frame at the start of <paramref name="data"/>, if it has all arrived (RFC 6455, section 5.2).</summary>
    private static bool TryFrame(ReadOnlySpan<byte> data, out bool final, out int opcode, out ReadOnlySpan<byte> payload, out int size)
    {
        (final, opcode, size) = (false, 0, 0);
        payload = default;
        if (data.Length < 2)
        {
            return false;
        }

        if ((data[1] & 0x80) != 0)
        {
            throw new InvalidOperationException("The server sent a masked frame, which RFC 6455 forbids.");
        }

        var head = 2;
        long length = data[1] & 0x7F;
        if (length == 126)
        {
            head = 4;
            if (data.Length < head)
            {
                return false;
            }

            length = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        }
        else if (length == 127)
        {
            head = 10;
            if (data.Length < head)
            {
                return false;
            }

            length = (long)BinaryPrimitives.ReadUInt64BigEndian(data[2..]);
            if (length is < 0 or > 16 * 1024 * 1024)
            {
                throw new InvalidOperationException($"The server announced a frame of {length} bytes; a feed frame is far smaller.");
            }
        }

        if (data.Length - head < length)
        {
            return false;
        }

        (final, opcode, size) = ((data[0] & 0x80) != 0, data[0] & 0x0F, head + (int)length);
        payload = data.Slice(head, (int)length);
        return true;
    }

    /// <summary>Answers a ping with a pong of the same payload, masked as a client's frames must be.</summary>
    private static void Pong(Connection connection, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > 125)
        {
            throw new InvalidOperationException("The server sent a ping over 125 bytes, which RFC 6455 forbids.");
        }

        Span<byte> frame = stackalloc byte[6 + 125];
        frame[0] = 0x8A;
        frame[1] = (byte)(0x80 | payload.Length);
        RandomNumberGenerator.Fill(frame.Slice(2, 4));
        for (var i = 0; i < payload.Length; i++)
        {
            frame[6 + i] = (byte)(payload[i] ^ frame[2 + (i % 4)]);
        }

        // A few bytes into an idle connection's send buffer: it has room.
        connection.Socket.Send(frame[..(6 + payload.Length)], SocketFlags.None, out _);
    }

    private void End(Connection connection)
    {
        connection.Ended = true;
        if (!_stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _broken);
        }
    }

    /// <summary>A new session of the bootstrap admin, logged in from <paramref name="address"/>: its cookie.</summary>
    private static async Task<CookieContainer> LoginFromAsync(Uri server, string origin, string password, IPAddress address, CancellationToken cancellationToken)
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

    /// <summary>One dashboard socket and what the reader knows of the message arriving on it.</summary>
    private sealed class Connection(Socket socket)
    {
        public Socket Socket { get; } = socket;

        /// <summary>The start of a frame that had not all arrived at the last read.</summary>
        public byte[]? Carry { get; set; }

        public bool Ended { get; set; }

        public bool MessageIsSnapshot { get; set; }

        public long MessageLength { get; set; }
    }
}

/// <summary>Snapshots and their bytes received over all sockets by the end of a walk, and its <see cref="System.Diagnostics.Stopwatch"/> timestamp.</summary>
internal sealed record SnapshotTally(long Snapshots, long SnapshotBytes, long Timestamp)
{
    /// <summary>Snapshots a socket received per second from <paramref name="earlier"/> to this one.</summary>
    public double PerSocketPerSecondSince(SnapshotTally earlier, int sockets) =>
        (Snapshots - earlier.Snapshots) / (double)sockets / System.Diagnostics.Stopwatch.GetElapsedTime(earlier.Timestamp, Timestamp).TotalSeconds;

    /// <summary>The mean size of the snapshots received from <paramref name="earlier"/> to this one.</summary>
    public double BytesPerSnapshotSince(SnapshotTally earlier) =>
        Snapshots == earlier.Snapshots ? 0 : (SnapshotBytes - earlier.SnapshotBytes) / (double)(Snapshots - earlier.Snapshots);
}
