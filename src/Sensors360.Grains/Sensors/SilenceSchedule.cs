using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// The silo's one clock for all its sensors' silence watches: a queue ordered by due time and one timer set
/// for the earliest. A per-grain timer cost each online sensor a few hundred bytes; here a watch costs its
/// queue entry. Entries are never removed early: a watch moved or disarmed leaves its old entry behind, and
/// the entry is dropped when it comes due and no longer matches the watch (<see cref="SilenceWakeup.IsArmedFor"/>).
/// </summary>
public sealed class SilenceSchedule : IDisposable
{
    // A timer cannot wait longer than about 49 days; waking once a day to find nothing due is free.
    private static readonly TimeSpan LongestWait = TimeSpan.FromDays(1);

    private readonly TimeProvider _clock;
    private readonly PriorityQueue<SilenceWakeup, long> _queue = new();
    // Re-entrant: a fake clock may run the timer's callback inside Change, on the thread that holds the lock.
    private readonly Lock _lock = new();
    private readonly ITimer _timer;
    // UTC ticks the timer is set for; long.MaxValue when the queue is empty.
    private long _timerDue = long.MaxValue;

    public SilenceSchedule(
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, IOptions<MonitoringOptions> options, ILogger<SilenceSchedule> logger)
    {
        _clock = clock;
        CheckPeriod = options.Value.SilenceCheckPeriod;
        Logger = logger;
        _timer = clock.CreateTimer(_ => WakeDue(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The silence reminder's period (<see cref="MonitoringOptions.SilenceCheckPeriod"/>).</summary>
    public TimeSpan CheckPeriod { get; }

    /// <summary>For the watches' warnings, so that no watch holds a logger of its own.</summary>
    internal ILogger Logger { get; }

    /// <summary>Watches waiting, stale entries included.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    internal DateTimeOffset Now => _clock.GetUtcNow();

    /// <summary>Wakes <paramref name="watch"/> at <paramref name="dueTicks"/> (UTC ticks), unless it has moved by then.</summary>
    internal void Add(SilenceWakeup watch, long dueTicks)
    {
        lock (_lock)
        {
            _queue.Enqueue(watch, dueTicks);
            // Set again also when it should have fired already: a clock moved by hand (AdjustTime) fires nothing.
            if (dueTicks < _timerDue || _timerDue <= _clock.GetUtcNow().UtcTicks)
            {
                // The last thing under the lock: a fake clock may call WakeDue from inside Change.
                SetTimer(dueTicks);
            }
        }
    }

    private void WakeDue()
    {
        List<SilenceWakeup>? due = null;
        lock (_lock)
        {
            var now = _clock.GetUtcNow().UtcTicks;
            while (_queue.TryPeek(out var watch, out var at) && at <= now)
            {
                _queue.Dequeue();
                if (watch.IsArmedFor(at))
                {
                    (due ??= []).Add(watch);
                }
            }

            _timerDue = long.MaxValue;
            if (_queue.TryPeek(out _, out var next))
            {
                SetTimer(next);
            }
        }

        // Each wake-up is a one-way grain call; the grain's own turn decides.
        if (due is not null)
        {
            foreach (var watch in due)
            {
                watch.Wake();
            }
        }
    }

    private void SetTimer(long dueTicks)
    {
        _timerDue = dueTicks;
        var wait = TimeSpan.FromTicks(Math.Max(0, dueTicks - _clock.GetUtcNow().UtcTicks));
        _timer.Change(wait < LongestWait ? wait : LongestWait, Timeout.InfiniteTimeSpan);
    }

    public void Dispose() => _timer.Dispose();
}

/// <summary>
/// One wake-up in a <see cref="SilenceSchedule"/>: armed for one moment at a time (a sensor grain's
/// <see cref="SilenceWatch"/>; tests use their own). Moving or disarming it leaves the old entry to be dropped.
/// </summary>
public abstract class SilenceWakeup(SilenceSchedule schedule)
{
    // UTC ticks of the wake-up; 0 when none is armed. The schedule reads it from its own thread.
    private long _dueTicks;

    protected SilenceSchedule Schedule => schedule;

    /// <summary>When it is armed for, if it is.</summary>
    public DateTimeOffset? Due => Volatile.Read(ref _dueTicks) is var ticks and not 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>
    /// Wakes it at <paramref name="due"/>. Unless <paramref name="force"/>, a wake-up already set for the same time or
    /// earlier (or one that came and has not been re-armed) is left alone: whoever is woken re-arms when it finds
    /// nothing due. A later one is brought forward.
    /// </summary>
    public void Arm(DateTimeOffset due, bool force = false)
    {
        // Never 0, which means disarmed; the epoch is long past anyway.
        var ticks = Math.Max(1, due.UtcTicks);
        var current = Volatile.Read(ref _dueTicks);
        if (!force && current != 0 && current <= ticks)
        {
            return;
        }

        Volatile.Write(ref _dueTicks, ticks);
        schedule.Add(this, ticks);
    }

    public void Disarm() => Volatile.Write(ref _dueTicks, 0);

    /// <summary>Whether the schedule's entry for <paramref name="dueTicks"/> is still this wake-up's moment.</summary>
    internal bool IsArmedFor(long dueTicks) => Volatile.Read(ref _dueTicks) == dueTicks;

    /// <summary>Its moment came, on the schedule's thread; it stays armed for it until re-armed or disarmed.</summary>
    protected internal abstract void Wake();
}
