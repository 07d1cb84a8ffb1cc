using System.Threading.Channels;

namespace Sensors360.Server.Notifications;

/// <summary>
/// Wakes this silo's dispatcher when the database announces new outbox events (the trigger's <c>pg_notify</c>,
/// heard on <c>SensorChangeListener</c>'s connection, so no connection is added). Signals fold into one.
/// </summary>
/// <remarks>One waiter at a time: the silo's one dispatcher.</remarks>
public sealed class NotificationWake
{
    private readonly Channel<bool> _signals = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    // The wait for a signal, kept from one poll to the next: a quiet poll ends on its timer instead of by cancelling
    // the read, which threw an exception every poll (the runtime's exception counter showed one every 2 s on an idle
    // server), and no abandoned read is left on the channel.
    private Task<bool>? _signalled;

    public void Signal() => _signals.Writer.TryWrite(true);

    /// <summary>
    /// Returns when signalled or after <paramref name="timeout"/>, whichever is first; throws
    /// <see cref="OperationCanceledException"/> only when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var signalled = _signalled ??= _signals.Reader.WaitToReadAsync(CancellationToken.None).AsTask();
        using var stopTimer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var elapsed = Task.Delay(timeout, time, stopTimer.Token);
        if (await Task.WhenAny(signalled, elapsed) == signalled)
        {
            _signalled = null;
            _signals.Reader.TryRead(out _);
            // Ends the timer; a cancelled delay that nobody awaits throws nothing.
            await stopTimer.CancelAsync();
            return;
        }

        // The poll's timeout (completes normally) or the caller's cancellation (throws).
        await elapsed;
    }
}
