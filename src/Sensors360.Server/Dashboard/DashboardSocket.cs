using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json;
using Npgsql;
using Sensors360.Grains.Sensors;

namespace Sensors360.Server.Dashboard;

/// <summary>
/// One browser's connection (protocol: docs/websocket.md). Sending and receiving run side by side.
/// Snapshots and alert frames, which every socket gets, are sent by the feed's own walks over its sockets (once a
/// second for snapshots, after each batch of alert changes), on the walk's thread, to each socket that is idle: the
/// same bytes for every socket, mostly taken at once by the connection's buffer. With thousands of sockets, waking a
/// loop per socket for each of them cost more than the send. What only this socket gets (watched sensors, answers)
/// waits in a queue for its send loop, which also sends whatever came due while a send was under way. A slow client
/// gets fewer snapshots, never a growing backlog. A client that does not drain for 30 s, or falls too far behind,
/// is dropped (a close frame cannot pass the stalled connection). A socket whose operator session ended
/// (<see cref="FeedSessions"/>) is closed with 1008.
/// </summary>
internal sealed partial class DashboardSocket(WebSocket socket, DashboardFeed feed, SensorWatch watch, TimeProvider time, ILogger logger) : IDisposable
{
    public const int MaxMessageBytes = 16 * 1024;
    /// <summary>Sensors one socket may watch at once (tighter than issue 11's bound of 200; the page watches at most 91).</summary>
    public const int MaxSubscriptions = 200;
    private const int MaxQueued = 5_000;
    // A first buffer that holds most of what a page sends; a larger message (a resubscription of many sensors) doubles it up to the limit.
    private const int FirstBufferBytes = 4 * 1024;
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    private readonly ConcurrentQueue<byte[]> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly HashSet<string> _subscribed = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private LatestFanOut<FeedFrames, DashboardSocket>.Subscription? _snapshots;
    private AlertListFrame? _alertListSent;
    // The last alert frame sent; the feed links the ones after it.
    private AlertFrame? _alertSent;
    // Who sends holds this (the feed's tick or the send loop; a WebSocket takes one send at a time): 0 while nobody does,
    // else when the send was taken or its latest frame handed over (a TimeProvider timestamp). Held for longer than
    // DrainTimeout, the client is too slow.
    private long _sendingSince;
    private volatile bool _tooSlow;
    private volatile bool _sessionEnded;

    /// <summary>Serves the socket until either side closes it, <paramref name="sessionEnded"/> fires (1008), or the server stops (1001).</summary>
    public async Task RunAsync(CancellationToken sessionEnded, CancellationToken stopping)
    {
        using var endedRegistration = sessionEnded.Register(EndSession);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        using var snapshots = feed.Join(this, out var lastAlert);
        _alertSent = lastAlert;
        _snapshots = snapshots;
        try
        {
            var sending = SendAsync(done.Token);
            // The first snapshot at once, not at the next tick.
            Pump();
            // Never cancelled: cancelling a WebSocket receive aborts the socket, and then no close frame can
            // be sent. It ends with the client's close frame, or when the socket is aborted below.
            var receiving = ReceiveAsync(CancellationToken.None);
            await Task.WhenAny(sending, receiving);
            await done.CancelAsync();
            // Sends are not cancellable (a cancellable send costs an allocation and a registration each); one the
            // client does not take is ended by aborting the connection.
            if (await Task.WhenAny(sending, Task.Delay(CloseTimeout, CancellationToken.None)) != sending)
            {
                socket.Abort();
            }

            await Quietly(sending);
            if (stopping.IsCancellationRequested)
            {
                await CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "server shutting down");
            }
            else if (_tooSlow)
            {
                LogTooSlow(logger);
                await CloseAsync(WebSocketCloseStatus.PolicyViolation, "client too slow");
            }

            if (await Task.WhenAny(receiving, Task.Delay(CloseTimeout, CancellationToken.None)) != receiving)
            {
                socket.Abort();
            }

            await Quietly(receiving);
        }
        finally
        {
            string[] subscribed;
            lock (_gate)
            {
                subscribed = [.. _subscribed];
            }

            foreach (var sensorId in subscribed)
            {
                await Quietly(watch.UnwatchAsync(sensorId, this));
            }
        }
    }

    public void Dispose() => _signal.Dispose();

    /// <summary>
    /// The feed's tick or alert walk (on its thread, so it must not block): sends what is due, unless a send is under
    /// way (then its sender sends it before letting go). Mostly completes at once: the connection's buffer takes the
    /// frames. A send held for longer than the drain timeout drops the connection.
    /// </summary>
    internal void Pump()
    {
        if (!TryBeginSend())
        {
            if (Volatile.Read(ref _sendingSince) is var since and not 0 && time.GetElapsedTime(since) > DrainTimeout)
            {
                Drop();
            }

            return;
        }

        var sending = SendDueHeldAsync();
        if (sending.IsCompleted)
        {
            Observe(sending);
        }
        else
        {
            _ = ObserveAsync(sending);
        }
    }

    /// <summary>A frame for this socket (a watched sensor's change), serialized once for all its sockets; sent in the order handed in.</summary>
    internal void Deliver(byte[] json) => Enqueue(json);

    // Not by cancelling the send loop: a cancelled WebSocket send aborts the connection, and the close code
    // would be lost. The loop sees the flag at its next wake-up and closes with 1008.
    private void EndSession()
    {
        _sessionEnded = true;
        Wake();
    }

    private void Wake()
    {
        try
        {
            _signal.Release();
        }
        catch (ObjectDisposedException)
        {
            // The socket is already gone (the feed or the watch may still hold it for a moment).
        }
    }

    private void Enqueue(FeedMessage message) => Enqueue(message.ToUtf8Json());

    private void Enqueue(byte[] message)
    {
        if (_queue.Count >= MaxQueued)
        {
            // The client has stopped reading; nothing more is kept for it.
            Drop();
            return;
        }

        _queue.Enqueue(message);
        Wake();
    }

    /// <summary>
    /// Drops a client that stopped reading: a close frame cannot pass a full connection, so the connection is
    /// aborted, which ends the stalled send (and the loops).
    /// </summary>
    private void Drop()
    {
        _tooSlow = true;
        socket.Abort();
        Wake();
    }

    private bool TryBeginSend() => Interlocked.CompareExchange(ref _sendingSince, Math.Max(1, time.GetTimestamp()), 0) == 0;

    /// <summary>
    /// Lets the next sender in, then wakes the send loop if something became due meanwhile: whoever made it due may
    /// have found the send taken and left it to the holder.
    /// </summary>
    private void EndSend()
    {
        // A full fence: the looks below must not be read before the send is let go, or a frame made due meanwhile by
        // someone who found the send taken would wait for the next wake-up.
        Interlocked.Exchange(ref _sendingSince, 0);
        if (!_queue.IsEmpty || _alertSent?.Next is not null || _snapshots?.IsDue == true)
        {
            Wake();
        }
    }

    /// <summary>
    /// Sends everything due while holding the send, then lets go: queued frames (answers, watched sensors), the alert
    /// frames this socket has not sent yet, in the order they happened, and the newest snapshot if this tick has one for it.
    /// </summary>
    private async ValueTask SendDueHeldAsync()
    {
        try
        {
            while (true)
            {
                if (_queue.TryDequeue(out var message))
                {
                    await SendFrameAsync(message);
                }
                else if (_alertSent?.Next is { } alert)
                {
                    if (feed.AlertFrames - _alertSent.Sequence > MaxQueued)
                    {
                        // The client has stopped reading; the alerts it has not taken are not kept for it.
                        Drop();
                        return;
                    }

                    await SendFrameAsync(alert.Json);
                    _alertSent = alert;
                }
                else if (_snapshots?.TryTake(out var frames) == true)
                {
                    await SendFramesAsync(frames);
                }
                else
                {
                    return;
                }
            }
        }
        finally
        {
            EndSend();
        }
    }

    private void Observe(ValueTask sending)
    {
        try
        {
            sending.GetAwaiter().GetResult();
        }
        catch (Exception e) when (IsConnectionEnding(e))
        {
            // The connection is ending; the send loop sees it and ends too.
            Wake();
        }
    }

    private async Task ObserveAsync(ValueTask sending)
    {
        try
        {
            await sending;
        }
        catch (Exception e) when (IsConnectionEnding(e))
        {
            Wake();
        }
    }

    /// <summary>The snapshot, after the alert list's frame when that changed since this socket sent it last.</summary>
    private ValueTask SendFramesAsync(FeedFrames frames) =>
        ReferenceEquals(frames.Alerts, _alertListSent) ? SendFrameAsync(frames.SnapshotJson) : SendWithAlertListAsync(frames);

    private async ValueTask SendWithAlertListAsync(FeedFrames frames)
    {
        await SendFrameAsync(frames.Alerts.Json);
        _alertListSent = frames.Alerts;
        await SendFrameAsync(frames.SnapshotJson);
    }

    /// <summary>
    /// One frame, by whoever holds the send. Not cancellable: then the WebSocket writes the frame without an
    /// allocation and completes at once when the connection's buffer has room.
    /// </summary>
    private ValueTask SendFrameAsync(byte[] json)
    {
        Volatile.Write(ref _sendingSince, time.GetTimestamp());
        return socket.SendAsync(new ReadOnlyMemory<byte>(json), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
    }

    private static bool IsConnectionEnding(Exception e) =>
        e is WebSocketException or ObjectDisposedException or OperationCanceledException or IOException;

    /// <summary>Sends what the tick and the alert walks could not (the send was taken) and what only this socket gets.</summary>
    private async Task SendAsync(CancellationToken cancellationToken)
    {
        while (socket.State == WebSocketState.Open)
        {
            await _signal.WaitAsync(cancellationToken);
            if (_sessionEnded)
            {
                LogSessionEnded(logger);
                await CloseAsync(WebSocketCloseStatus.PolicyViolation, "session ended");
                return;
            }

            if (_tooSlow)
            {
                return;
            }

            // Taken: its holder looks again before letting go and wakes this loop if anything is left.
            if (TryBeginSend())
            {
                await SendDueHeldAsync();
            }
        }
    }

    /// <summary>
    /// Reads the client's messages one at a time. Between messages the socket waits with a zero-byte read and holds no
    /// buffer; one is rented for a message once its first frame has come, starting small (most of a page's messages are
    /// a few hundred bytes), and returned as soon as the message is parsed. 10,000 idle sockets each holding their own 16 KiB
    /// had cost 160 MB (docs/performance.md "Live feed cost").
    /// </summary>
    private async Task ReceiveAsync(CancellationToken cancellationToken)
    {
        byte[]? buffer = null;
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (buffer is not null && length == buffer.Length && length < MaxMessageBytes)
                    {
                        buffer = Grown(buffer);
                    }

                    // At the limit, a byte of its own: any byte more shows the message is too big.
                    var space = buffer is null ? Memory<byte>.Empty
                        : length < MaxMessageBytes ? buffer.AsMemory(length, Math.Min(buffer.Length, MaxMessageBytes) - length)
                        : new byte[1];
                    result = await socket.ReceiveAsync(space, cancellationToken);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        await CloseAsync(WebSocketCloseStatus.NormalClosure, "bye");
                        return;
                    }

                    if (result.MessageType == WebSocketMessageType.Binary)
                    {
                        await CloseAsync(WebSocketCloseStatus.InvalidMessageType, "binary frames are not accepted");
                        return;
                    }

                    length += result.Count;
                    if (length > MaxMessageBytes)
                    {
                        await CloseAsync(WebSocketCloseStatus.MessageTooBig, $"messages are limited to {MaxMessageBytes} bytes");
                        return;
                    }

                    if (!result.EndOfMessage)
                    {
                        buffer ??= ArrayPool<byte>.Shared.Rent(FirstBufferBytes);
                    }
                }
                while (!result.EndOfMessage);

                var read = TryRead(buffer is null ? ReadOnlyMemory<byte>.Empty : buffer.AsMemory(0, length), out var type, out var sensors);
                if (buffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                }

                if (read)
                {
                    await HandleAsync(type, sensors);
                }
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>A rented buffer twice the size of <paramref name="full"/>, holding its bytes; <paramref name="full"/> goes back to the pool.</summary>
    private static byte[] Grown(byte[] full)
    {
        var larger = ArrayPool<byte>.Shared.Rent(full.Length * 2);
        full.CopyTo(larger, 0);
        ArrayPool<byte>.Shared.Return(full);
        return larger;
    }

    /// <summary>
    /// The message's type and, when it has them, its sensors (copied out of <paramref name="message"/>, whose buffer goes
    /// back to the pool); false, with an error frame queued, when it is not a JSON object with a string type.
    /// </summary>
    private bool TryRead(ReadOnlyMemory<byte> message, out string type, out JsonElement sensors)
    {
        (type, sensors) = ("", default);
        try
        {
            using var document = JsonDocument.Parse(message);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
            {
                Error("A message must be a JSON object with a string \"type\".");
                return false;
            }

            type = typeElement.GetString()!;
            sensors = root.TryGetProperty("sensors", out var list) ? list.Clone() : default;
            return true;
        }
        catch (JsonException)
        {
            Error("A message must be JSON.");
            return false;
        }
    }

    private async Task HandleAsync(string type, JsonElement sensors)
    {
        switch (type)
        {
            case "ping":
                Enqueue(new PongMessage());
                break;
            case "subscribe" or "unsubscribe":
                if (sensors.ValueKind != JsonValueKind.Array
                    || sensors.EnumerateArray().Any(id => id.ValueKind != JsonValueKind.String || !SensorIds.IsValid(id.GetString())))
                {
                    Error($"\"{type}\" needs \"sensors\": an array of sensor ids.");
                    return;
                }

                var ids = sensors.EnumerateArray().Select(id => id.GetString()!).Distinct(StringComparer.Ordinal).ToList();
                if (type == "subscribe")
                {
                    await SubscribeAsync(ids);
                }
                else
                {
                    await UnsubscribeAsync(ids);
                }

                break;
            default:
                Error($"Unknown message type \"{type}\"; expected subscribe, unsubscribe or ping.");
                break;
        }
    }

    /// <summary>
    /// All or nothing: over the limit, or naming a sensor that does not exist, nothing is subscribed. Existence is
    /// checked without waking any grain (<see cref="SensorWatch.FindUnknownAsync"/>); messages are handled one at a
    /// time per socket, so nothing changes the subscriptions between the check and the update.
    /// </summary>
    private async Task SubscribeAsync(List<string> ids)
    {
        List<string> added;
        int subscribed;
        lock (_gate)
        {
            added = ids.Where(id => !_subscribed.Contains(id)).ToList();
            subscribed = _subscribed.Count;
        }

        if (subscribed + added.Count > MaxSubscriptions)
        {
            Error($"Too many sensors: at most {MaxSubscriptions} can be subscribed at once on one socket; nothing was subscribed.");
            return;
        }

        IReadOnlyList<string> unknown;
        try
        {
            unknown = await watch.FindUnknownAsync(added);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            Error("The sensors could not be checked right now; nothing was subscribed. Try again.");
            return;
        }

        if (unknown.Count > 0)
        {
            const int Named = 10;
            var names = string.Join(", ", unknown.Take(Named)) + (unknown.Count > Named ? $" and {unknown.Count - Named} more" : "");
            Error($"Unknown sensors: {names}; nothing was subscribed.");
            return;
        }

        lock (_gate)
        {
            _subscribed.UnionWith(added);
        }

        foreach (var id in added)
        {
            await watch.WatchAsync(id, this);
        }
    }

    private async Task UnsubscribeAsync(List<string> ids)
    {
        List<string> removed;
        lock (_gate)
        {
            removed = [.. ids.Where(_subscribed.Remove)];
        }

        foreach (var id in removed)
        {
            await watch.UnwatchAsync(id, this);
        }
    }

    private void Error(string message) => Enqueue(new ErrorMessage(message));

    private async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        using var timeout = new CancellationTokenSource(CloseTimeout);
        try
        {
            await socket.CloseOutputAsync(status, reason, timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            socket.Abort();
        }
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException or OrleansException or TimeoutException)
        {
            // The connection is ending; there is nobody left to tell.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Closing a dashboard socket whose operator session ended")]
    private static partial void LogSessionEnded(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Closing a dashboard socket whose client stopped reading")]
    private static partial void LogTooSlow(ILogger logger);
}
