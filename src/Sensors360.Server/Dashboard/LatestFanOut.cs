using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Sensors360.Server.Dashboard;

/// <summary>
/// The latest value of one stream, fanned out to thousands of receivers on one silo (the dashboard sockets). A
/// publish only swaps in the value with the next version: no lock, no walk over the receivers. The receivers are
/// spread over <paramref name="slices"/> slices, each with its own tick (<see cref="TickSlice"/>; the feed ticks
/// each slice once a second, one after another), so a period's sends are spread over the period instead of made
/// all at once. At its slice's tick every receiver that has not taken the newest version is told it may, and takes
/// it then or later (the feed's sockets send it on the tick's thread when idle): so a receiver takes at most one
/// value per tick, always the newest, and a slow one skips values instead of queueing them. A receiver that has taken
/// nothing for <paramref name="repeatAfterTicks"/> of its slice's ticks is offered the latest value again, so the
/// stream never falls silent for longer while there is a value. Joining and leaving are one concurrent-dictionary add
/// and remove, whatever the number of receivers.
/// </summary>
/// <remarks>
/// Not an Rx subject on purpose: nothing is combined here, and a subject copies its observer array on every
/// subscribe and unsubscribe (a <c>BehaviorSubject</c> under the lock it publishes under), so 10,000 sockets made
/// each change O(n), their opening and closing O(n²), and stalled the silo (docs/performance.md "Live feed cost").
/// </remarks>
/// <param name="due">Tells a receiver that a newer value may be taken; called from the ticks and the first publish, and must not block.</param>
/// <param name="slices">How many slices the receivers are spread over; each joins the one with the fewest.</param>
/// <param name="repeatAfterTicks">Ticks of its slice after which a receiver that took nothing may take the latest again; 0: never.</param>
internal sealed class LatestFanOut<TValue, TReceiver>(Action<TReceiver> due, int slices = 1, int repeatAfterTicks = 0)
    where TValue : class
    where TReceiver : class
{
    private readonly ConcurrentDictionary<long, Subscription>[] _subscriptions = NewSlices(slices);
    // Each slice's tick: a receiver takes at most one value per tick of its own slice.
    private readonly long[] _ticks = new long[slices];
    private readonly int _repeatAfterTicks = repeatAfterTicks >= 0 ? repeatAfterTicks : throw new ArgumentOutOfRangeException(nameof(repeatAfterTicks));
    private Versioned? _latest;
    private long _nextId;

    private static ConcurrentDictionary<long, Subscription>[] NewSlices(int slices)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slices, 1);
        return [.. Enumerable.Range(0, slices).Select(_ => new ConcurrentDictionary<long, Subscription>())];
    }

    /// <summary>The newest value; null before the first.</summary>
    public TValue? Latest => Volatile.Read(ref _latest)?.Value;

    /// <summary>The receivers joined now.</summary>
    public int Count => _subscriptions.Sum(slice => slice.Count);

    /// <summary>How many slices the receivers are spread over.</summary>
    public int Slices => _subscriptions.Length;

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
            for (var slice = 0; slice < Slices; slice++)
            {
                TellBehind(slice);
            }
        }
    }

    /// <summary>Joins <paramref name="receiver"/>: it may take the latest value at once, then one per tick. Dispose to leave.</summary>
    public Subscription Join(TReceiver receiver)
    {
        // The slice with the fewest, so sockets that left unevenly do not bring the burst back (Count takes the slice's
        // locks; joins are rare next to ticks).
        var slice = 0;
        for (var candidate = 1; candidate < Slices; candidate++)
        {
            if (_subscriptions[candidate].Count < _subscriptions[slice].Count)
            {
                slice = candidate;
            }
        }

        var id = Interlocked.Increment(ref _nextId);
        var subscription = new Subscription(this, id, slice, receiver);
        _subscriptions[subscription.Slice][id] = subscription;
        return subscription;
    }

    /// <summary>Starts the next tick of every slice: every receiver behind the newest version is told it may take it.</summary>
    public void Tick()
    {
        for (var slice = 0; slice < Slices; slice++)
        {
            TickSlice(slice);
        }
    }

    /// <summary>Starts the next tick of one slice: its receivers behind the newest version are told they may take it.</summary>
    public void TickSlice(int slice)
    {
        Interlocked.Increment(ref _ticks[slice]);
        TellBehind(slice);
    }

    /// <summary>Runs <paramref name="action"/> for every receiver joined now (one moment's view; joins and leaves may run meanwhile).</summary>
    public void ForEachReceiver(Action<TReceiver> action)
    {
        foreach (var slice in _subscriptions)
        {
            foreach (var (_, subscription) in slice)
            {
                action(subscription.Receiver);
            }
        }
    }

    private void TellBehind(int slice)
    {
        if (Volatile.Read(ref _latest) is not { } latest)
        {
            return;
        }

        var tick = Volatile.Read(ref _ticks[slice]);
        foreach (var (_, subscription) in _subscriptions[slice])
        {
            if (subscription.IsOffered(latest.Version, tick))
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
        // The version this receiver took last (0: none yet).
        private long _seen;
        private long _takenOnTick = -1;

        internal Subscription(LatestFanOut<TValue, TReceiver> owner, long id, int slice, TReceiver receiver)
        {
            _owner = owner;
            Id = id;
            Slice = slice;
            Receiver = receiver;
        }

        internal long Id { get; }

        internal int Slice { get; }

        internal TReceiver Receiver { get; }

        /// <summary>Whether <see cref="TryTake"/> would take a value now (a hint when read by another than the taker).</summary>
        public bool IsDue
        {
            get
            {
                var tick = Volatile.Read(ref _owner._ticks[Slice]);
                return Volatile.Read(ref _owner._latest) is { } latest
                    && IsOffered(latest.Version, tick)
                    && Volatile.Read(ref _takenOnTick) < tick;
            }
        }

        /// <summary>
        /// Whether the latest value, <paramref name="version"/>, is this receiver's to take as of <paramref name="tick"/>
        /// of its slice: newer than the one it took last, or it has taken nothing for the fan-out's repeat period (then
        /// the same again). The one rule behind the ticks' telling, <see cref="IsDue"/> and <see cref="TryTake"/>.
        /// </summary>
        internal bool IsOffered(long version, long tick) =>
            version > Volatile.Read(ref _seen)
            || (_owner._repeatAfterTicks > 0 && tick - Volatile.Read(ref _takenOnTick) >= _owner._repeatAfterTicks);

        /// <summary>
        /// The latest value, when nothing was taken yet in this tick and it is newer than the one taken last, or the
        /// receiver has been quiet for the repeat period (then the same value again).
        /// </summary>
        public bool TryTake([NotNullWhen(true)] out TValue? value)
        {
            var tick = Volatile.Read(ref _owner._ticks[Slice]);
            var latest = Volatile.Read(ref _owner._latest);
            if (latest is null || _takenOnTick >= tick || !IsOffered(latest.Version, tick))
            {
                value = null;
                return false;
            }

            Volatile.Write(ref _takenOnTick, tick);
            Volatile.Write(ref _seen, latest.Version);
            value = latest.Value;
            return true;
        }

        public void Dispose() => _owner._subscriptions[Slice].TryRemove(Id, out _);
    }
}
