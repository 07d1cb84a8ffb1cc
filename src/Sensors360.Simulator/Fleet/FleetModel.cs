namespace Sensors360.Simulator.Fleet;

/// <summary>
/// The simulated fleet as a pure model: no HTTP, no clock of its own. It is told the time and answers
/// what happens up to then (heartbeats due, deaths, replacements), in order. Every random choice comes
/// from the <see cref="Random"/> it is given, so a seed reproduces a fleet's whole history.
/// </summary>
/// <remarks>
/// A sensor's first heartbeat comes within one interval of being added (so a fleet does not start in
/// step); from then on it reports every interval ± jitter until its drawn lifespan has passed since its
/// first heartbeat. A flaky sensor now and then falls quiet for a short gap (0.4–0.8 × the threshold, no
/// alert) or a long one (1.5–3 × the threshold, an alert) and then reports again. With
/// <see cref="FleetBehaviour.Replace"/>, the crew comes to a dead sensor after its silence alert has been
/// up for a while (threshold to twice the threshold after its last heartbeat).
/// </remarks>
internal sealed class FleetModel
{
    private readonly FleetBehaviour _behaviour;
    private readonly Random _random;
    private readonly Lifespans _lifespans;
    private readonly PriorityQueue<Pending, (DateTimeOffset At, long Order)> _queue = new();
    private readonly List<SimulatedSensor> _sensors = [];
    private long _order;

    public FleetModel(FleetBehaviour behaviour, Random random)
    {
        behaviour.Validate();
        _behaviour = behaviour;
        _random = random;
        _lifespans = new Lifespans(behaviour.LifespanShape, behaviour.LifespanScale);
    }

    public FleetBehaviour Behaviour => _behaviour;

    /// <summary>Every sensor ever added, in the order added.</summary>
    public IReadOnlyList<SimulatedSensor> Sensors => _sensors;

    /// <summary>When the next event is due; null when nothing will ever happen again.</summary>
    public DateTimeOffset? NextEventAt => _queue.TryPeek(out _, out var key) ? key.At : null;

    /// <summary>Adds a sensor with a freshly drawn life; its first heartbeat is due within one interval of <paramref name="now"/>.</summary>
    public SimulatedSensor Add(string id, DateTimeOffset now)
    {
        var sensor = new SimulatedSensor(
            id,
            _behaviour.Interval,
            flaky: _random.NextDouble() < _behaviour.FlakyShare,
            lifespan: _lifespans.Draw(_random),
            batteryAtBirth: 0.9 + (0.1 * _random.NextDouble()),
            baseTemperatureC: 18 + (24 * _random.NextDouble()));
        _sensors.Add(sensor);
        Schedule(sensor, PendingKind.Heartbeat, now + (_behaviour.Interval * _random.NextDouble()));
        return sensor;
    }

    /// <summary>Everything due up to and including <paramref name="now"/>, oldest first; each event comes once.</summary>
    public IReadOnlyList<FleetEvent> Advance(DateTimeOffset now)
    {
        var events = new List<FleetEvent>();
        while (_queue.TryPeek(out var pending, out var key) && key.At <= now)
        {
            _queue.Dequeue();
            if (pending.Order != pending.Sensor.PendingEvent)
            {
                continue;
            }

            events.Add(pending.Kind switch
            {
                PendingKind.Heartbeat => Beat(pending.Sensor, key.At),
                PendingKind.Death => Die(pending.Sensor, key.At),
                _ => Replacement(pending.Sensor, key.At),
            });
        }

        return events;
    }

    /// <summary>
    /// Ends a living sensor's life now because it was retired behind the simulator's back (the server
    /// answered 410); with replacement on, the crew replaces it at once.
    /// </summary>
    public void Retired(SimulatedSensor sensor, DateTimeOffset now)
    {
        if (!sensor.IsAlive)
        {
            return;
        }

        sensor.EndedAt = now;
        sensor.QuietUntil = null;
        sensor.PendingEvent = 0;
        if (_behaviour.Replace)
        {
            Schedule(sensor, PendingKind.Replacement, now);
        }
    }

    private HeartbeatDue Beat(SimulatedSensor sensor, DateTimeOffset at)
    {
        sensor.BornAt ??= at;
        sensor.LastHeartbeatAt = at;
        sensor.Heartbeats++;
        sensor.QuietUntil = null;
        var reading = SensorReading.Of(sensor, at, _random);

        var (wait, quiet) = NextWait(sensor);
        var next = at + wait;
        var endOfLife = sensor.EndOfLife!.Value;
        if (next >= endOfLife)
        {
            Schedule(sensor, PendingKind.Death, endOfLife);
        }
        else
        {
            sensor.QuietUntil = quiet ? next : null;
            Schedule(sensor, PendingKind.Heartbeat, next);
        }

        return new HeartbeatDue(sensor, at, reading);
    }

    private SensorDied Die(SimulatedSensor sensor, DateTimeOffset at)
    {
        sensor.EndedAt = at;
        sensor.QuietUntil = null;
        sensor.PendingEvent = 0;
        if (_behaviour.Replace)
        {
            // The crew comes once the silence alert has been up for a while.
            var noticed = sensor.LastHeartbeatAt!.Value + (_behaviour.SilenceThreshold * (1 + _random.NextDouble()));
            Schedule(sensor, PendingKind.Replacement, noticed > at ? noticed : at);
        }

        return new SensorDied(sensor, at);
    }

    private static ReplacementDue Replacement(SimulatedSensor sensor, DateTimeOffset at)
    {
        sensor.Replaced = true;
        sensor.PendingEvent = 0;
        return new ReplacementDue(sensor, at);
    }

    /// <summary>The wait before the next heartbeat, and whether it is a flaky sensor's gap.</summary>
    private (TimeSpan Wait, bool Quiet) NextWait(SimulatedSensor sensor)
    {
        var regular = sensor.Interval * (1 + (_behaviour.Jitter * ((2 * _random.NextDouble()) - 1)));
        if (!sensor.Flaky || _random.NextDouble() >= _behaviour.GapChance)
        {
            return (regular, false);
        }

        var threshold = _behaviour.SilenceThreshold;
        var gap = _random.NextDouble() < 0.5
            ? threshold * (0.4 + (0.4 * _random.NextDouble()))
            : threshold * (1.5 + (1.5 * _random.NextDouble()));
        return (gap > regular ? gap : regular, true);
    }

    private void Schedule(SimulatedSensor sensor, PendingKind kind, DateTimeOffset at)
    {
        var order = ++_order;
        sensor.PendingEvent = order;
        _queue.Enqueue(new Pending(sensor, kind, order), (at, order));
    }

    private enum PendingKind
    {
        Heartbeat,
        Death,
        Replacement,
    }

    private sealed record Pending(SimulatedSensor Sensor, PendingKind Kind, long Order);
}
