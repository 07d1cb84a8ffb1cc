using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Sensors360.Bench;

/// <summary>
/// Heartbeats at a fixed rate, open loop (request <c>i</c> is due at <c>i ÷ rate</c> seconds whatever the answers do; its
/// latency runs from then), over raw HTTP/1.1 keep-alive connections with one request in flight each. It shares the
/// cores with the server it measures, so it does only what the measurement needs: one thread wakes about once a
/// millisecond, sends what fell due and reads what arrived, found through an epoll set of its own; no socket is ever
/// registered with .NET's engine, so no answer costs a thread-pool work item (why: docs/performance.md). Linux only.
/// </summary>
internal sealed partial class OpenLoopHeartbeats
{
    // Seconds a request waits for a free connection, and the run for its last answers, before giving up.
    private const int GiveUpAfter = 10;
    // How long before the first measured request the caller is told to read the server's counters: time for a /metrics
    // scrape and a query to finish before the measured requests begin.
    private static readonly TimeSpan ReadLead = TimeSpan.FromSeconds(0.5);

    private readonly Queue<Connection> _idle = new();
    private readonly long[] _due;
    private readonly long[] _sent;
    private readonly long[] _answered;
    private readonly int[] _status;
    // The warm-up's requests come first and are not counted.
    private readonly long _measuredFrom;
    // The request whose send tells the caller to read the server's counters.
    private readonly long _readAt;
    private long _outstanding;

    private OpenLoopHeartbeats(long warmUpRequests, long requests, long readLeadRequests)
    {
        _measuredFrom = warmUpRequests;
        _readAt = Math.Max(0, warmUpRequests - readLeadRequests);
        requests += warmUpRequests;
        _due = new long[requests];
        _sent = new long[requests];
        _answered = new long[requests];
        _status = new int[requests];
    }

    /// <summary>
    /// Sends heartbeats to <paramref name="pathTemplate"/> (<c>{id}</c> replaced) for the sensors in turn, each with its
    /// token, on <paramref name="connections"/> connections: <paramref name="warmUp"/> at the rate, not counted, then
    /// <c>rate × duration</c> measured ones on the same connections. <paramref name="measuring"/> is set half a second
    /// before the first of those is due (at the start if the warm-up is shorter): the caller's reads of the server then
    /// fall outside the measured requests. A measured request that got no 2xx (unsent, refused, lost with its
    /// connection, unanswered after 10 s) counts as an error and as infinitely slow in the percentiles.
    /// </summary>
    public static async Task<LoadNumbers> RunAsync(
        Uri server, string pathTemplate, IReadOnlyList<LoadSensor> sensors, double rate, TimeSpan warmUp, TimeSpan duration, int connections,
        TaskCompletionSource measuring, CancellationToken cancellationToken)
    {
        var requests = sensors.Select(sensor => Encoding.ASCII.GetBytes(
            $"POST {pathTemplate.Replace("{id}", sensor.Id, StringComparison.Ordinal)} HTTP/1.1\r\nHost: {server.Authority}\r\n" +
            $"Authorization: Bearer {sensor.Token}\r\nContent-Length: 0\r\n\r\n")).ToArray();
        var run = new OpenLoopHeartbeats((long)(rate * warmUp.TotalSeconds), (long)(rate * duration.TotalSeconds), (long)(rate * ReadLead.TotalSeconds));
        var endpoint = new IPEndPoint(IPAddress.Parse(server.Host), server.Port);
        var open = new Connection[connections];
        using var answers = new AnswerWait();
        try
        {
            await Task.Run(() =>
            {
                for (var i = 0; i < connections; i++)
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    socket.Connect(endpoint);
                    socket.Blocking = false;
                    open[i] = new Connection(socket);
                    answers.Add(socket, i);
                    run._idle.Enqueue(open[i]);
                }
            }, cancellationToken);

            var loop = new Thread(() => run.SendAndRead(requests, rate, answers, open, measuring)) { IsBackground = true, Name = "open-loop-heartbeats" };
            loop.Start();
            // Not cancellable: the sockets and the epoll set are disposed only once the loop has stopped using them.
            await Task.Run(loop.Join, CancellationToken.None);
            return run.Numbers();
        }
        finally
        {
            foreach (var connection in open)
            {
                connection?.Socket.Dispose();
            }
        }
    }

    private void SendAndRead(byte[][] requests, double rate, AnswerWait answers, Connection[] connections, TaskCompletionSource measuring)
    {
        var start = Stopwatch.GetTimestamp();
        long Due(int request) => start + (long)(request * Stopwatch.Frequency / rate);
        var giveUp = GiveUpAfter * Stopwatch.Frequency;
        var next = 0;
        var lastSend = start;
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            while (next < _due.Length && Due(next) <= now && TryTakeIdle(out var connection))
            {
                if (next == _readAt)
                {
                    measuring.TrySetResult();
                }

                _due[next] = Due(next);
                _sent[next] = lastSend = Stopwatch.GetTimestamp();
                var request = requests[next % requests.Length];
                if (connection.Socket.Send(request, SocketFlags.None, out var error) == request.Length && error == SocketError.Success)
                {
                    connection.Request = next;
                    connection.InFlight = true;
                    _outstanding++;
                }
                else
                {
                    // Gone, or (never seen with 200-byte requests) a full send buffer: an error, and the connection is dropped.
                    Drop(connection, answers);
                }

                next++;
            }

            foreach (var index in answers.Wait(timeoutMilliseconds: 0))
            {
                if (!connections[index].Closed && !TryReadAnswers(connections[index]))
                {
                    Drop(connections[index], answers);
                }
            }

            var finished = next == _due.Length && _outstanding == 0;
            // No connection came free for this long, or the last answers never came: the rest count as errors.
            var stuck = next < _due.Length ? now - Due(next) > giveUp : now - lastSend > giveUp;
            if (finished || stuck)
            {
                return;
            }

            // About a millisecond on Linux: what fell due meanwhile goes out together, each late by what it waited, and an
            // answer is read up to a tick after it came (both counted in the latency).
            Thread.Sleep(1);
        }
    }

    private bool TryTakeIdle(out Connection connection)
    {
        while (_idle.TryDequeue(out connection!))
        {
            if (!connection.Closed)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Closes a connection the server closed, broke or answered in a way this client does not read; its request stays an error.</summary>
    private void Drop(Connection connection, AnswerWait answers)
    {
        if (connection.InFlight)
        {
            connection.InFlight = false;
            _outstanding--;
        }

        connection.Closed = true;
        answers.Remove(connection.Socket);
        connection.Socket.Dispose();
    }

    /// <summary>Reads what arrived on <paramref name="connection"/> and records each whole answer; false once it is unusable.</summary>
    private bool TryReadAnswers(Connection connection)
    {
        while (true)
        {
            var read = connection.Socket.Receive(connection.Buffer.AsSpan(connection.Filled), SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                return true;
            }

            if (error != SocketError.Success || read == 0)
            {
                return false;
            }

            connection.Filled += read;
            while (connection.Filled > 0)
            {
                var answer = Parse(connection.Buffer.AsSpan(0, connection.Filled), out var status);
                if (answer == 0)
                {
                    break;
                }

                if (answer < 0 || !connection.InFlight)
                {
                    // An answer it cannot delimit (chunked, or a body of no stated length), or bytes nobody asked for.
                    return false;
                }

                _answered[connection.Request] = Stopwatch.GetTimestamp();
                _status[connection.Request] = status;
                connection.Buffer.AsSpan(answer, connection.Filled - answer).CopyTo(connection.Buffer);
                connection.Filled -= answer;
                connection.InFlight = false;
                _outstanding--;
                _idle.Enqueue(connection);
            }

            if (connection.Filled == connection.Buffer.Length)
            {
                // An answer larger than the buffer: not one the heartbeat route gives.
                return false;
            }
        }
    }

    /// <summary>
    /// The length of the whole answer at the start of <paramref name="bytes"/> and its status; 0 while it has not all
    /// arrived, −1 when it cannot be delimited (chunked, or a body without <c>Content-Length</c>). The server's header
    /// names are matched as Kestrel writes them.
    /// </summary>
    private static int Parse(ReadOnlySpan<byte> bytes, out int status)
    {
        status = 0;
        var headersEnd = bytes.IndexOf("\r\n\r\n"u8);
        if (headersEnd < 0)
        {
            return 0;
        }

        var headers = bytes[..(headersEnd + 2)];
        if (!headers.StartsWith("HTTP/1.1 "u8) || !Utf8Parser.TryParse(headers[9..], out status, out var digits) || digits != 3
            || headers.IndexOf("\r\nTransfer-Encoding:"u8) >= 0)
        {
            return -1;
        }

        var body = 0;
        var at = headers.IndexOf("\r\nContent-Length:"u8);
        if (at >= 0)
        {
            var value = headers[(at + "\r\nContent-Length:"u8.Length)..];
            value = value[..value.IndexOf("\r\n"u8)].Trim((byte)' ');
            if (!Utf8Parser.TryParse(value, out body, out var used) || used != value.Length || body < 0)
            {
                return -1;
            }
        }
        else if (status is not (204 or 304) && status >= 200)
        {
            return -1;
        }

        var length = headersEnd + 4 + body;
        return bytes.Length >= length ? length : 0;
    }

    private LoadNumbers Numbers()
    {
        var measured = _due.Length - _measuredFrom;
        var latencies = new List<double>((int)measured);
        var serviceTimes = new List<double>((int)measured);
        long succeeded = 0;
        long sent = 0;
        var maxLag = 0L;
        var first = long.MaxValue;
        var last = 0L;
        for (var i = _measuredFrom; i < _due.Length; i++)
        {
            if (_sent[i] != 0)
            {
                sent++;
                maxLag = Math.Max(maxLag, _sent[i] - _due[i]);
                first = Math.Min(first, _due[i]);
                last = Math.Max(last, Math.Max(_sent[i], _answered[i]));
            }

            if (_sent[i] != 0 && _status[i] is >= 200 and < 300)
            {
                succeeded++;
                latencies.Add(Milliseconds(_answered[i] - _due[i]));
                serviceTimes.Add(Milliseconds(_answered[i] - _sent[i]));
            }
            else
            {
                latencies.Add(double.PositiveInfinity);
                serviceTimes.Add(double.PositiveInfinity);
            }
        }

        var seconds = sent == 0 ? 0 : Milliseconds(last - first) / 1000;
        var latency = Quantiles.NearestRanks(latencies, 0.50, 0.99, 0.999);
        return new LoadNumbers(
            succeeded / Math.Max(seconds, 1e-3),
            sent / Math.Max(seconds, 1e-3),
            Math.Round(latency[0], 3),
            Math.Round(latency[1], 3),
            Math.Round(latency[2], 3),
            measured - succeeded,
            succeeded,
            seconds,
            Math.Round(Quantiles.NearestRank(serviceTimes, 0.99), 3),
            Milliseconds(maxLag));
    }

    private static double Milliseconds(long timestamps) => timestamps * 1000.0 / Stopwatch.Frequency;

    private sealed class Connection(Socket socket)
    {
        public Socket Socket { get; } = socket;

        /// <summary>What arrived and is not yet a whole answer.</summary>
        public byte[] Buffer { get; } = new byte[8 * 1024];

        public int Filled { get; set; }

        /// <summary>The request in flight on it, while <see cref="InFlight"/>.</summary>
        public int Request { get; set; }

        public bool InFlight { get; set; }

        public bool Closed { get; set; }
    }

    /// <summary>
    /// An epoll set of the client's own (Linux), level-triggered on readable: one <c>epoll_wait</c> gives the send-and-read
    /// loop every connection with bytes waiting. Each entry's data is the connection's index.
    /// </summary>
    private sealed partial class AnswerWait : IDisposable
    {
        private const int Readable = 0x001; // EPOLLIN
        private const int AddOperation = 1; // EPOLL_CTL_ADD
        private const int DeleteOperation = 2; // EPOLL_CTL_DEL
        private const int MaxEvents = 256;

        // struct epoll_event is packed on x86-64 (12 bytes, the data at 4) and naturally aligned elsewhere (16, at 8).
        private static readonly int Stride = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
        private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

        private readonly int _epoll;
        private readonly byte[] _events = new byte[MaxEvents * Stride];
        private readonly List<int> _ready = new(MaxEvents);

        public AnswerWait()
        {
            _epoll = EpollCreate1(0);
            if (_epoll < 0)
            {
                throw new InvalidOperationException($"epoll_create1 failed ({Marshal.GetLastPInvokeError()}).");
            }
        }

        public void Add(Socket socket, int index) => Control(AddOperation, socket, index);

        // Dropping a connection the kernel already forgot is not an error worth stopping the run for.
        public void Remove(Socket socket) => _ = TryControl(DeleteOperation, socket, 0);

        /// <summary>The indexes of the connections with bytes to read; none after <paramref name="timeoutMilliseconds"/>.</summary>
        public List<int> Wait(int timeoutMilliseconds)
        {
            _ready.Clear();
            var count = EpollWait(_epoll, _events, MaxEvents, timeoutMilliseconds);
            for (var i = 0; i < count; i++)
            {
                _ready.Add((int)BitConverter.ToUInt64(_events, i * Stride + DataOffset));
            }

            return _ready;
        }

        private void Control(int operation, Socket socket, int index)
        {
            if (!TryControl(operation, socket, index))
            {
                throw new InvalidOperationException($"epoll_ctl failed ({Marshal.GetLastPInvokeError()}).");
            }
        }

        private bool TryControl(int operation, Socket socket, int index)
        {
            var entry = new byte[Stride];
            BitConverter.TryWriteBytes(entry.AsSpan(0, 4), Readable);
            BitConverter.TryWriteBytes(entry.AsSpan(DataOffset, 8), (ulong)index);
            return EpollCtl(_epoll, operation, (int)socket.Handle, entry) == 0;
        }

        // Nothing to do if closing fails at the end of a run.
        public void Dispose() => _ = Close(_epoll);

        [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
        private static partial int EpollCreate1(int flags);

        [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
        private static partial int EpollCtl(int epoll, int operation, int descriptor, byte[] entry);

        [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
        private static partial int EpollWait(int epoll, byte[] events, int maxEvents, int timeoutMilliseconds);

        [LibraryImport("libc", EntryPoint = "close")]
        private static partial int Close(int descriptor);
    }
}
