using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Sensors360.Server.Dashboard;

/// <summary>
/// The latest value of one stream, fanned out to thousands of receivers on one silo (the dashboard sockets). A
/// publish only swaps in the value with the next version: no lock, no walk over the receivers. Once a tick
/// (<see cref="Tick"/>, a second), every receiver that has not taken the newest version is told it may, and takes
/// it then or later (the feed's sockets send it on the tick's thread when idle): so a receiver takes at most one
/// value per tick, always the newest, and a slow one skips values instead of queueing them. Joining and leaving
/// are one concurrent-dictionary add and remove, O(1).
/// </summary>
/// <remarks>
/// Not an Rx subject on purpose: nothing is combined here, and a subject copies its observer array on every
/// subscribe and unsubscribe (a <c>BehaviorSubject</c> under the lock it publishes under), so 10,000 sockets made
/// each change O(n), their opening and closing O(n²), and stalled the silo (docs/performance.md "Live feed cost").
/// </remarks>
/// <param name="due">Tells a receiver that a newer value may be taken; called from <see cref="Tick"/> and must not block.</param>
internal sealed class LatestFanOut<TValue, TReceiver>(Action<TReceiver> due)
    where TValue : class
    where TReceiver : class
{
    private readonly ConcurrentDictionary<long, Subscription> _subscriptions = new();
    private Versioned? _latest;
    private long _nextId;
    private long _tick;

    /// <summary>The newest value; null before the first.</summary>
    public TValue? Latest => Volatile.Read(ref _latest)?.Value;

    /// <summary>The receivers joined now.</summary>
    public int Count => _subscriptions.Count;

    /// <summary>Makes <paramref name="value"/> the latest. Lock-free; concurrent publishers each get their own version.</summary>
    public void Publish(TValue value)
    {
        Versioned? previous;
        do
        {
            previous = Volatile.Read(ref _latest);
        }
        while (Interlocked.CompareExchange(ref _latest, new Versioned((previous?.Version ?? 0) + 1, value), previous) != previous);

        // Receivers that joined before there was anything to take would otherwise wait for the next tick.
        if (previous is null)
        {
            TellBehind();
        }
    }

    /// <summary>Joins <paramref name="receiver"/>: it may take the latest value at once, then one per tick. Dispose to leave.</summary>
    public Subscription Join(TReceiver receiver)
    {
        var subscription = new Subscription(this, Interlocked.Increment(ref _nextId), receiver);
        _subscriptions[subscription.Id] = subscription;
        return subscription;
    }

    /// <summary>Starts the next tick: every receiver behind the newest version is told it may take it.</summary>
    public void Tick()
    {
        Interlocked.Increment(ref _tick);
        TellBehind();
    }

    /// <summary>Runs <paramref name="action"/> for every receiver joined now (one moment's view; joins and leaves may run meanwhile).</summary>
    public void ForEachReceiver(Action<TReceiver> action)
    {
        foreach (var (_, subscription) in _subscriptions)
        {
            action(subscription.Receiver);
        }
    }

    private void TellBehind()
    {
        if (Volatile.Read(ref _latest) is not { } latest)
        {
            return;
        }

        foreach (var (_, subscription) in _subscriptions)
        {
            if (subscription.Seen < latest.Version)
            {
                due(subscription.Receiver);
            }
        }
    }

    private sealed record Versioned(long Version, TValue Value);

    /// <summary>One receiver's place; <see cref="TryTake"/> is called by one loop at a time (the receiver's own).</summary>
    public sealed class Subscription : IDisposable
    {
        private readonly LatestFanOut<TValue, TReceiver> _owner;
        private long _seen;
        private long _takenOnTick = -1;

        internal Subscription(LatestFanOut<TValue, TReceiver> owner, long id, TReceiver receiver)
        {
            _owner = owner;
            Id = id;
            Receiver = receiver;
        }

        internal long Id { get; }

        internal TReceiver Receiver { get; }

        /// <summary>The version this receiver took last (0: none yet).</summary>
        internal long Seen => Volatile.Read(ref _seen);

        /// <summary>Whether <see cref="TryTake"/> would take a value now (a hint when read by another than the taker).</summary>
        public bool IsDue =>
            Volatile.Read(ref _owner._latest) is { } latest && latest.Version > Volatile.Read(ref _seen)
            && Volatile.Read(ref _takenOnTick) < Volatile.Read(ref _owner._tick);

        /// <summary>The latest value, when it is newer than the one taken last and nothing was taken yet in this tick.</summary>
        public bool TryTake([NotNullWhen(true)] out TValue? value)
        {
            var tick = Volatile.Read(ref _owner._tick);
            var latest = Volatile.Read(ref _owner._latest);
            if (latest is null || latest.Version <= _seen || _takenOnTick >= tick)
            {
                value = null;
                return false;
            }

            Volatile.Write(ref _takenOnTick, tick);
            Volatile.Write(ref _seen, latest.Version);
            value = latest.Value;
            return true;
        }

        public void Dispose() => _owner._subscriptions.TryRemove(Id, out _);
    }
}
