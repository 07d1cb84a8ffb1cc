using System.Globalization;
using Sensors360.Simulator.Roster;
using Sensors360.Simulator.Server;
using Sensors360.Simulator.Status;

namespace Sensors360.Simulator.Fleet;

/// <summary>
/// Plays the <see cref="FleetModel"/> against the server in real (or fake) time: sends each heartbeat when
/// it is due, retires and replaces dead sensors, and recovers sensors whose token the server no longer
/// takes. The model decides what happens; this class only carries it out and counts the answers.
/// </summary>
internal sealed class FleetRun
{
    /// <summary>The longest the loop sleeps, so sensors added meanwhile (replacements) are never late by more.</summary>
    private static readonly TimeSpan MaxSleep = TimeSpan.FromMilliseconds(100);

    private readonly FleetOptions _options;
    private readonly ISensorAdministration _administration;
    private readonly IHeartbeatTransport _transport;
    private readonly SensorRoster _roster;
    private readonly RosterProvisioning _provisioning;
    private readonly TimeProvider _clock;
    private readonly StatusLine _status;
    private readonly FleetModel _model;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, string> _tokens = new(StringComparer.Ordinal);
    private readonly HashSet<string> _recovering = new(StringComparer.Ordinal);
    private readonly List<Task> _work = [];
    private readonly OutcomeTally _outcomes = new();
    private CancellationToken _stopping;
    private long _sent;
    private long _problems;
    private int _replaced;
    private TimeSpan _lag;
    private long _slowestAnswerTicks;
    private DateTimeOffset _startedAt;
    private DateTimeOffset _lastStatusAt;
    private long _sentAtLastStatus;

    public FleetRun(
        FleetOptions options, ISensorAdministration administration, IHeartbeatTransport transport, SensorRoster roster, TimeProvider clock, StatusLine status)
    {
        _options = options;
        _administration = administration;
        _transport = transport;
        _roster = roster;
        _clock = clock;
        _status = status;
        _model = new FleetModel(options.Behaviour, new Random(options.Seed));
        _provisioning = new RosterProvisioning(roster, administration, options.Prefix, options.Tags, (int)options.Behaviour.SilenceThreshold.TotalSeconds);
    }

    public FleetModel Model => _model;

    public OutcomeTally Outcomes => _outcomes;

    /// <summary>Runs until <paramref name="cancellationToken"/> fires or the duration is over, then waits for the heartbeats in flight.</summary>
    public async Task<FleetSummary> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await StartAsync(cancellationToken);
            var end = _options.Duration is { } duration ? _startedAt + duration : DateTimeOffset.MaxValue;
            while (!cancellationToken.IsCancellationRequested)
            {
                Tick();
                var now = _clock.GetUtcNow();
                if (now >= end)
                {
                    break;
                }

                var wake = Min(Min(_model.NextEventAt ?? DateTimeOffset.MaxValue, end), now + MaxSleep);
                if (wake > now)
                {
                    await Task.Delay(wake - now, _clock, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C: stop sending; what is in flight still completes and counts, and the roster is saved.
        }

        return await StopAsync();
    }

    /// <summary>Provisions or reuses the sensors and puts them in the model.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = cancellationToken;
        _startedAt = _clock.GetUtcNow();
        _lastStatusAt = _startedAt;
        var sensors = await _provisioning.EnsureAsync(_options.Sensors, cancellationToken);
        var now = _clock.GetUtcNow();
        lock (_gate)
        {
            foreach (var sensor in sensors)
            {
                _tokens[sensor.Id] = sensor.Token;
                _model.Add(sensor.Id, now);
            }
        }

        _startedAt = now;
        _lastStatusAt = now;
    }

    /// <summary>Carries out what the model says is due now; shows the status when its period has passed.</summary>
    public void Tick()
    {
        var now = _clock.GetUtcNow();
        IReadOnlyList<FleetEvent> events;
        lock (_gate)
        {
            events = _model.Advance(now);
            _work.RemoveAll(task => task.IsCompleted);
        }

        foreach (var happening in events)
        {
            switch (happening)
            {
                case HeartbeatDue beat:
                    _sent++;
                    NoteLag(now - beat.At);
                    Track(SendAsync(beat));
                    break;
                case SensorDied died:
                    lock (_gate)
                    {
                        _roster.MarkDead(died.Sensor.Id, died.Sensor.DiedAt ?? died.At);
                    }

                    break;
                case ReplacementDue replacement:
                    Track(ReplaceAsync(replacement.Sensor));
                    break;
            }
        }

        if (now - _lastStatusAt >= _status.Period)
        {
            _status.Show(Describe(now));
            _lastStatusAt = now;
        }
    }

    /// <summary>Waits for every heartbeat, replacement and recovery under way, including those they start.</summary>
    public async Task DrainAsync()
    {
        while (true)
        {
            Task[] pending;
            lock (_gate)
            {
                pending = [.. _work];
                _work.Clear();
            }

            if (pending.Length == 0)
            {
                return;
            }

            await Task.WhenAll(pending);
        }
    }

    /// <summary>Waits for what is under way, saves the roster and sums up.</summary>
    public async Task<FleetSummary> StopAsync()
    {
        await DrainAsync();
        var now = _clock.GetUtcNow();
        _status.End();
        lock (_gate)
        {
            _roster.Save();
            return new FleetSummary(
                _options.Seed, now - _startedAt, _model.Sensors.Count, _model.Sensors.Count(sensor => sensor.IsAlive),
                _model.Sensors.Count(sensor => !sensor.IsAlive), _replaced, _sent, _outcomes, Interlocked.Read(ref _problems),
                TimeSpan.FromTicks(Interlocked.Read(ref _slowestAnswerTicks)));
        }
    }

    private async Task SendAsync(HeartbeatDue beat)
    {
        var id = beat.Sensor.Id;
        string token;
        lock (_gate)
        {
            token = _tokens[id];
        }

        var body = _options.Metrics ? beat.Reading.ToBody() : default(ReadOnlyMemory<byte>);
        // Not cancelled on Ctrl+C: a heartbeat under way gets its answer, so what is counted as stored is exact.
        var outcome = await _transport.SendAsync(HeartbeatUri(id), token, body, CancellationToken.None);
        // The slowest answer from its heartbeat's due time: the latest the server can have stamped any heartbeat after the truth's time for it.
        RunningMaximum.Raise(ref _slowestAnswerTicks, (_clock.GetUtcNow() - beat.At).Ticks);
        _outcomes.Record(outcome);
        switch (outcome.StatusCode)
        {
            case 401:
                await RecoverAsync(beat.Sensor, token);
                break;
            case 410:
                lock (_gate)
                {
                    _model.Retired(beat.Sensor, _clock.GetUtcNow());
                    _roster.Remove(id);
                }

                break;
        }
    }

    /// <summary>The server refused the sensor's token: get one that works, unless a newer one is already there.</summary>
    private async Task RecoverAsync(SimulatedSensor sensor, string refusedToken)
    {
        lock (_gate)
        {
            if (_tokens[sensor.Id] != refusedToken || !_recovering.Add(sensor.Id))
            {
                return;
            }
        }

        try
        {
            var token = await _provisioning.RecoverTokenAsync(sensor.Id, _stopping);
            lock (_gate)
            {
                if (token is null)
                {
                    _model.Retired(sensor, _clock.GetUtcNow());
                }
                else
                {
                    _tokens[sensor.Id] = token;
                }

                _roster.Save();
            }
        }
        catch (Exception e) when (e is SimulatorException or HttpRequestException or OperationCanceledException)
        {
            Problem($"Could not recover the token of {sensor.Id}: {e.Message}");
        }
        finally
        {
            lock (_gate)
            {
                _recovering.Remove(sensor.Id);
            }
        }
    }

    /// <summary>The crew retires the dead sensor and provisions a new one, which starts its own life.</summary>
    private async Task ReplaceAsync(SimulatedSensor dead)
    {
        try
        {
            await _administration.RetireAsync(dead.Id, _stopping);
            lock (_gate)
            {
                _roster.Remove(dead.Id);
            }

            var fresh = await _provisioning.ProvisionNewAsync(_stopping);
            lock (_gate)
            {
                _tokens[fresh.Id] = fresh.Token;
                _model.Add(fresh.Id, _clock.GetUtcNow());
                _replaced++;
                _roster.Save();
            }
        }
        catch (Exception e) when (e is SimulatorException or HttpRequestException or OperationCanceledException)
        {
            Problem($"Could not replace {dead.Id}: {e.Message}");
        }
    }

    private void Track(Task task)
    {
        lock (_gate)
        {
            _work.Add(task);
        }
    }

    private void Problem(string message)
    {
        Interlocked.Increment(ref _problems);
        if (!_stopping.IsCancellationRequested)
        {
            _status.WriteLine(message);
        }
    }

    private void NoteLag(TimeSpan lag)
    {
        if (lag > _lag)
        {
            _lag = lag;
        }
    }

    private Uri HeartbeatUri(string id) => new(_options.Access.Server, $"/api/sensors/{Uri.EscapeDataString(id)}/heartbeat");

    /// <summary>One status line: rates since the last one, the answers so far, the fleet's state, and the loop's worst lag.</summary>
    private string Describe(DateTimeOffset now)
    {
        int alive, quiet, dead;
        lock (_gate)
        {
            alive = _model.Sensors.Count(sensor => sensor.IsAlive);
            quiet = _model.Sensors.Count(sensor => sensor.QuietUntil > now);
            dead = _model.Sensors.Count - alive;
        }

        var seconds = Math.Max((now - _lastStatusAt).TotalSeconds, 1e-3);
        var rate = (_sent - _sentAtLastStatus) / seconds;
        _sentAtLastStatus = _sent;
        var lag = _lag;
        _lag = TimeSpan.Zero;
        var failures = _outcomes.DescribeFailures();
        return string.Create(CultureInfo.InvariantCulture,
            $"fleet {Elapsed(now - _startedAt)}  {rate,6:0.0} beats/s  sent {_sent}  ok {_outcomes.Succeeded}  errors {_outcomes.Failed}{(failures.Length > 0 ? $" [{failures}]" : "")}  alive {alive - quiet} quiet {quiet} dead {dead} replaced {_replaced}  lag {lag.TotalMilliseconds:0} ms");
    }

    private static string Elapsed(TimeSpan elapsed) => elapsed.ToString(elapsed.TotalHours >= 1 ? @"h\:mm\:ss" : @"m\:ss", CultureInfo.InvariantCulture);

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
