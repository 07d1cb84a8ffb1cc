using System.Threading.Channels;

namespace Sensors360.Server.Notifications;

/// <summary>
/// Wakes this silo's dispatcher when the database announces new outbox events (the trigger's <c>pg_notify</c>,
/// heard on <c>SensorChangeListener</c>'s connection, so no connection is added). Signals fold into one.
/// </summary>
public sealed class NotificationWake
{
    private readonly Channel<bool> _signals = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Signal() => _signals.Writer.TryWrite(true);

    /// <summary>Returns when signalled or after <paramref name="timeout"/>, whichever is first.</summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var elapsed = new CancellationTokenSource(timeout, time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, elapsed.Token);
        try
        {
            await _signals.Reader.ReadAsync(either.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The poll: nothing announced within the timeout.
        }
    }
}
