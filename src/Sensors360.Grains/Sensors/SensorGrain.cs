using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Utilities;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Alerts;
using Sensors360.Grains.Dashboard;
using Sensors360.Grains.Maintenance;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// One sensor's life. Its record is the database (<c>sensor</c>, <c>heartbeat</c>, <c>alert</c>), not
/// Orleans grain state: heartbeats are appended through the silo's <see cref="IHeartbeatWriter"/>, their counters
/// kept here and written in bulk by the silo's <see cref="SensorCheckpoint"/>, and the grain rebuilds itself from
/// the <c>sensor_status_rebuilt</c> view (the checkpoint plus the heartbeats after it) whenever it activates. It writes its sensor's
/// alerts (raise, resolve, acknowledge; the <see cref="SilenceSweep"/> raises one only when this grain is active
/// nowhere, in bulk, or its silo is unreachable) and tells the dashboard grain of each change. Silence is detected by its
/// <see cref="SilenceWatch"/>, confirmed by the sweep. A heartbeat the database could not take (answered 503)
/// still counts as a sign of life for silence, never for storage. While paused (its own pause, or a maintenance
/// window of one of its tags, from the silo's <see cref="MaintenanceCalendar"/>) a silence that comes due is not
/// raised: the watch sleeps until the pause ends and raises it then if the sensor is still silent.
/// </summary>
public sealed partial class SensorGrain(
    SensorStore store,
    AlertStore alerts,
    IHeartbeatWriter heartbeats,
    SensorCheckpoint checkpoint,
    HeartbeatImport history,
    HeartbeatTally tally,
    MaintenanceCalendar maintenance,
    SilenceSchedule schedule,
    IOptions<MonitoringOptions> options,
    [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
    [FromKeyedServices(SensorGrain.LoadWarningsKey)] WarningPace loadWarnings,
    ILogger<SensorGrain> logger) : Grain, ISensorGrain, IRemindable
{
    /// <summary>The key of the silo's one <see cref="WarningPace"/> for sensors that could not be loaded, shared by its grains.</summary>
    public const string LoadWarningsKey = "sensors360.sensor-load-warnings";

    // How soon to try again when the database refused to record a silence, or could not be read when one came due.
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    // Heartbeats remembered while the sensor could not be loaded, their tokens not yet checked: this many tokens.
    private const int MaxUnverifiedTokens = 8;

    // The sensor as last read and updated; kept when a later read fails, to check tokens while the database is down.
    private SensorRecord? _sensor;
    // False: read the database again before relying on _sensor (never read, or it may have changed unseen).
    private bool _loaded;
    // The latest heartbeat with the right token that the database did not take: alive, though nothing was stored.
    private DateTimeOffset? _signOfLife;
    // Heartbeats that arrived before the sensor could ever be loaded, checked against its token once it is.
    private Dictionary<string, DateTimeOffset>? _unverified;
    private SilenceWatch? _silence;
    // Until a heartbeat is stored: this activation may have read its sensor just before the silence sweep's bulk
    // raise committed an alert (the sweep raises in bulk for grains it found active nowhere), so that heartbeat
    // resolves whatever alert is open, not only the one it knows of.
    private bool _openAlertMayBeUnseen = true;
    // Only watched sensors pay for an observer list; most never are.
    private ObserverManager<ISensorObserver>? _watchers;

    private string Name => this.GetPrimaryKeyString();

    // State and alert changes (never single heartbeats) go to the fleet aggregate, one-way.
    private IDashboardGrain Dashboard => GrainFactory.GetGrain<IDashboardGrain>(0);

    private SilenceWatch Silence => _silence ??= new SilenceWatch(this, schedule);

    private TimeSpan Threshold => _sensor?.SilenceThresholdSeconds is { } seconds
        ? TimeSpan.FromSeconds(seconds)
        : options.Value.SilenceThreshold;

    // How long before its deadline an online sensor's silence is "within reach" and its reminder registered:
    // one check period (all of the threshold when that is shorter). A steady sensor never gets this close.
    private TimeSpan Reach => Threshold < options.Value.SilenceCheckPeriod ? Threshold : options.Value.SilenceCheckPeriod;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Each activation reads the sensor's row once; at Debug level this shows what wakes sensors (and their queries).
        LogActivated(logger, Name);
        // Not fatal if the database does not answer: every call loads again until it does. Loading only arms the
        // timer; whatever woke the grain decides (a heartbeat that wakes it is itself proof of life).
        await TryEnsureLoadedAsync();
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _silence?.Dispose();
        return Task.CompletedTask;
    }

    public async Task<ProvisionResult> Provision(SensorRegistration registration)
    {
        try
        {
            await EnsureLoadedAsync();
            if (_sensor is not null)
            {
                return ProvisionResult.AlreadyExists;
            }

            var inserted = await store.InsertAsync(
                Name, registration.Tags, registration.SilenceThresholdSeconds, registration.TokenHash, clock.GetUtcNow(), CancellationToken.None);
            if (inserted is not { } row)
            {
                _loaded = false; // Created meanwhile through another activation: read it next time.
                return ProvisionResult.AlreadyExists;
            }

            _sensor = new SensorRecord(row.Id, Name, registration.Tags, SensorStatus.Pending, row.CreatedAt, null, null, 0, null,
                registration.SilenceThresholdSeconds, registration.TokenHash, OpenAlert: null);
            // Never heard from by provisioning + threshold: it alerts as never reported (the sweep backs this timer).
            Silence.Arm(row.CreatedAt + Threshold, force: true);
            await Dashboard.SensorChanged();
            return ProvisionResult.Created;
        }
        catch (Exception e) when (DatabaseFailure.Is(e))
        {
            return ProvisionResult.Unavailable;
        }
    }

    public async Task<HeartbeatResult> Heartbeat(HeartbeatReport report)
    {
        if (!await TryEnsureLoadedAsync())
        {
            NoteAttempt(report.TokenHash, report.ReceivedAt);
            return HeartbeatResult.Unavailable;
        }

        if (_sensor is not { } sensor)
        {
            // Nothing to keep in memory for an id nobody provisioned (e.g. someone probing ids).
            DeactivateOnIdle();
            return HeartbeatResult.UnknownSensor;
        }

        if (!SensorTokens.Matches(report.TokenHash, sensor.TokenHash))
        {
            return HeartbeatResult.Unauthorized;
        }

        if (sensor.Status == SensorStatus.Retired)
        {
            return HeartbeatResult.Retired;
        }

        // Asked again after a silo left: the first call may have been stored before its answer was lost.
        if (report.Repeated && sensor.LastHeartbeatAt == HeartbeatTimes.ToStoredPrecision(report.ReceivedAt))
        {
            return HeartbeatResult.Stored;
        }

        var receivedAt = NextReceiveTime(report.ReceivedAt, sensor.LastHeartbeatAt);
        try
        {
            await heartbeats.AppendAsync(new HeartbeatRecord(
                sensor.Id, receivedAt, receivedAt - sensor.LastHeartbeatAt, report.MetricsJson, sensor.OpenAlert?.Id, _openAlertMayBeUnseen));
        }
        catch (HeartbeatLogUnavailableException)
        {
            // Perhaps stored all the same (a commit whose reply was lost): read the sensor again before relying on it.
            _loaded = false;
            NoteSignOfLife(receivedAt);
            return HeartbeatResult.Unavailable;
        }

        _openAlertMayBeUnseen = false;
        _sensor = sensor with
        {
            Status = SensorStatus.Online,
            FirstHeartbeatAt = sensor.FirstHeartbeatAt ?? receivedAt,
            LastHeartbeatAt = receivedAt,
            HeartbeatCount = sensor.HeartbeatCount + 1,
            OpenAlert = null,
        };
        tally.Record(receivedAt, receivedAt - sensor.LastHeartbeatAt);

        if (sensor.Status != SensorStatus.Online)
        {
            if (sensor.FirstHeartbeatAt is null)
            {
                // Pending until its row says otherwise: written with the other first heartbeats of the moment, in one
                // statement, before the fleet aggregate is told below, so it counts the sensor online at its next read.
                await checkpoint.WriteSoonAsync(sensor.Id);
            }

            if (sensor.OpenAlert is { } resolved)
            {
                LogRecovered(logger, Name);
                await Dashboard.AlertChanged(Resolved(resolved, receivedAt));
            }

            await Dashboard.SensorChanged();
        }

        await WatchAsync(SilenceDeadline()!.Value, force: false);
        await NotifyWatchersAsync();
        return HeartbeatResult.Stored;
    }

    public async Task<HeartbeatResult> ImportHeartbeats(string tokenHash, BufferedHeartbeat[] buffered)
    {
        if (!await TryEnsureLoadedAsync())
        {
            NoteAttempt(tokenHash, clock.GetUtcNow());
            return HeartbeatResult.Unavailable;
        }

        if (_sensor is not { } sensor)
        {
            DeactivateOnIdle();
            return HeartbeatResult.UnknownSensor;
        }

        if (!SensorTokens.Matches(tokenHash, sensor.TokenHash))
        {
            return HeartbeatResult.Unauthorized;
        }

        if (sensor.Status == SensorStatus.Retired)
        {
            return HeartbeatResult.Retired;
        }

        if (buffered.Length == 0)
        {
            return HeartbeatResult.Stored;
        }

        try
        {
            await history.WriteAsync(
                [.. buffered.Select(heartbeat => new PastHeartbeat(sensor.Id, HeartbeatTimes.ToStoredPrecision(heartbeat.At), heartbeat.MetricsJson))],
                CancellationToken.None);
        }
        catch (Exception e) when (DatabaseFailure.Is(e))
        {
            // The sender is alive; the write may have committed all the same, so the sensor is read again.
            _loaded = false;
            NoteSignOfLife(clock.GetUtcNow());
            return HeartbeatResult.Unavailable;
        }

        // Committed: the answer is Stored even if the reload fails (then the next call loads again).
        await HistoryImported();
        return HeartbeatResult.Stored;
    }

    public async Task HistoryImported()
    {
        try
        {
            await ReloadAfterImportAsync();
        }
        catch (Exception e) when (DatabaseFailure.Is(e))
        {
            // The next call (or the reminder) loads the sensor again and judges it then.
            _loaded = false;
            LogLoadFailure(e);
        }
    }

    /// <summary>
    /// Takes the sensor as the database now holds it (imported heartbeats moved its counters). An open alert
    /// whose silence the history ended (a heartbeat after its <c>silentSince</c>) is resolved at that heartbeat;
    /// then the sensor is judged as on activation: silent from its last heartbeat + threshold if that has
    /// passed, else watched until then. Gaps inside the history raise nothing: they are over.
    /// </summary>
    private async Task ReloadAfterImportAsync()
    {
        var sensor = await store.LoadAsync(Name, CancellationToken.None);
        if (sensor is { Status: SensorStatus.Silent, OpenAlert: { } open }
            && await alerts.ResolveIfHeartbeatSinceAsync(open.Id, sensor.Id, CancellationToken.None) is { } resolvedAt)
        {
            LogSilenceEndedInHistory(logger, Name, open.Id, resolvedAt);
            await Dashboard.AlertChanged(open with { ResolvedAt = resolvedAt });
            sensor = await store.LoadAsync(Name, CancellationToken.None);
        }

        Take(sensor);
        if (sensor is { Status: SensorStatus.Online or SensorStatus.Pending })
        {
            // Online perhaps only since the import: judged as after a live heartbeat (the reminder once in reach).
            await JudgeSilenceAsync();
        }

        await Dashboard.SensorChanged();
        await NotifyWatchersAsync();
    }

    public async Task<SensorCommandResult> Retire(SensorRetirement retirement)
    {
        try
        {
            await EnsureLoadedAsync();
            if (_sensor is not { } sensor)
            {
                return SensorCommandResult.NotFound;
            }

            if (sensor.Status != SensorStatus.Retired)
            {
                var at = retirement.At ?? clock.GetUtcNow();
                if (at < sensor.LastHeartbeatAt)
                {
                    return SensorCommandResult.BeforeLastHeartbeat;
                }

                await store.RetireAsync(sensor.Id, at, retirement.Reason, CancellationToken.None);
                _sensor = sensor with { Status = SensorStatus.Retired, RetiredAt = at, RetiredReason = retirement.Reason, OpenAlert = null };
                if (sensor.OpenAlert is { } resolved)
                {
                    await Dashboard.AlertChanged(Resolved(resolved, at));
                }

                await Dashboard.SensorChanged();
                await NotifyWatchersAsync();
                Silence.Disarm();
            }

            await Silence.RemoveReminderAsync();
            return SensorCommandResult.Done;
        }
        catch (Exception e) when (DatabaseFailure.Is(e))
        {
            return SensorCommandResult.Unavailable;
        }
    }

    public Task<SensorCommandResult> Pause(SensorPause pause) => ChangeLiveSensorAsync(async sensor =>
    {
        await store.PauseAsync(sensor.Id, clock.GetUtcNow(), pause.Until, pause.Reason, pause.PausedBy, CancellationToken.None);
        _sensor = sensor with { PausedUntil = pause.Until };
        LogPaused(logger, Name, pause.Until);
        await Dashboard.SensorChanged();
        await NotifyWatchersAsync();
    });

    public Task<SensorCommandResult> EndPause() => ChangeLiveSensorAsync(async sensor =>
    {
        if (sensor.PausedUntil is { } until && until > clock.GetUtcNow())
        {
            await store.ResumeAsync(sensor.Id, clock.GetUtcNow(), CancellationToken.None);
            LogResumed(logger, Name);
        }

        _sensor = sensor with { PausedUntil = null };
        // A silence past its threshold is alerted now, unless a maintenance window still covers the sensor.
        await JudgeSilenceAsync();
        await Dashboard.SensorChanged();
        await NotifyWatchersAsync();
    });

    public Task<SensorCommandResult> RotateToken(string tokenHash) => ChangeLiveSensorAsync(async sensor =>
    {
        await store.RotateTokenAsync(sensor.Id, tokenHash, CancellationToken.None);
        _sensor = sensor with { TokenHash = tokenHash };
    });

    /// <summary>
    /// Runs an operator's change on a sensor that exists and is not retired. A database failure answers
    /// Unavailable and has the sensor read again on its next call, as the change may or may not have committed.
    /// </summary>
    private async Task<SensorCommandResult> ChangeLiveSensorAsync(Func<SensorRecord, Task> change)
    {
        try
        {
            await EnsureLoadedAsync();
            if (_sensor is not { } sensor)
            {
                return SensorCommandResult.NotFound;
            }

            if (sensor.Status == SensorStatus.Retired)
            {
                return SensorCommandResult.Retired;
            }

            await change(sensor);
            return SensorCommandResult.Done;
        }
        catch (Exception e) when (DatabaseFailure.Is(e))
        {
            _loaded = false;
            return SensorCommandResult.Unavailable;
        }
    }

    public async Task<AlertAcknowledgement> AcknowledgeAlert(long alertId, string username)
    {
        try
        {
            await EnsureLoadedAsync();
            if (_sensor is not { } sensor)
            {
                return new AlertAcknowledgement(SensorCommandResult.NotFound, null);
            }

            var acknowledged = await alerts.AcknowledgeAsync(alertId, sensor.Id, username, clock.GetUtcNow(), CancellationToken.None);
            if (acknowledged is not { } outcome)
            {
                return new AlertAcknowledgement(SensorCommandResult.NotFound, null);
            }

            var (alert, recorded) = outcome;

            if (sensor.OpenAlert?.Id == alert.Id)
            {
                _sensor = sensor with { OpenAlert = alert };
            }

            // A repeated acknowledgement changes nothing, so nobody needs to hear of it again.
            if (recorded)
            {
                await Dashboard.AlertChanged(alert);
            }

            return new AlertAcknowledgement(SensorCommandResult.Done, alert);
        }
        catch (Exception e) when (DatabaseFailure.Is(e))
        {
            return new AlertAcknowledgement(SensorCommandResult.Unavailable, null);
        }
    }

    public async Task<SensorSnapshot?> Describe()
    {
        var fresh = !_loaded;
        await EnsureLoadedAsync();
        if (fresh)
        {
            // Woken to be read: a silence that came due while nobody watched is raised before answering.
            await JudgeSilenceAsync();
        }

        return Snapshot();
    }

    private SensorSnapshot? Snapshot() =>
        _sensor is { } sensor
            ? sensor.ToSnapshot(options.Value.SilenceThreshold, maintenance.PausedUntil(sensor.Tags, sensor.PausedUntil, clock.GetUtcNow()))
            : null;

    private Task NotifyWatchersAsync() =>
        _watchers is { Count: > 0 } watchers && Snapshot() is { } snapshot
            ? watchers.Notify(watcher => watcher.SensorChanged(snapshot))
            : Task.CompletedTask;

    public Task Watch(ISensorObserver observer)
    {
        _watchers ??= new ObserverManager<ISensorObserver>(TimeSpan.FromMinutes(2), logger);
        _watchers.Subscribe(observer, observer);
        return Task.CompletedTask;
    }

    public Task Unwatch(ISensorObserver observer)
    {
        _watchers?.Unsubscribe(observer);
        if (_watchers?.Count == 0)
        {
            _watchers = null;
        }

        return Task.CompletedTask;
    }

    public async Task CheckSilence()
    {
        if (!await TryEnsureLoadedAsync())
        {
            WatchWhileUnreadable();
            return; // The timer or the reminder's next tick tries again.
        }

        switch (_sensor)
        {
            case { Status: SensorStatus.Online or SensorStatus.Pending }:
                await JudgeSilenceAsync();
                break;
            case { Status: not SensorStatus.Online } or null when Silence.ReminderMayExist:
                // Left over from an interrupted transition: a reminder only belongs to an online sensor.
                await Silence.RemoveReminderAsync();
                break;
        }
    }

    public async Task<bool> ConfirmSilence(DateTimeOffset? lastHeartbeatAt)
    {
        if (_sensor is not { Status: SensorStatus.Online or SensorStatus.Pending, OpenAlert: null } known || known.LastHeartbeatAt != lastHeartbeatAt)
        {
            // The database holds something this activation did not see (e.g. a commit whose reply was lost).
            _loaded = false;
        }

        if (!await TryEnsureLoadedAsync())
        {
            WatchWhileUnreadable();
            return false;
        }

        if (_sensor is not { Status: SensorStatus.Online or SensorStatus.Pending })
        {
            return false;
        }

        // Not due yet (a sign of life the database lacks): the schedule watches, and the reminder backs it again
        // once in reach if a crash or a failed registration lost it.
        return await JudgeSilenceAsync();
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => CheckSilence();

    /// <summary>
    /// When the sensor goes silent: its last heartbeat (or provisioning, if it never reported) or the latest sign of
    /// life, whichever is later, + threshold. Null when it is not watched (silent already, retired, unknown).
    /// </summary>
    private DateTimeOffset? SilenceDeadline() => _sensor switch
    {
        { Status: SensorStatus.Online, LastHeartbeatAt: { } last } => Latest(last, _signOfLife) + Threshold,
        { Status: SensorStatus.Pending } pending => Latest(pending.CreatedAt, _signOfLife) + Threshold,
        _ => null,
    };

    private static DateTimeOffset Latest(DateTimeOffset stored, DateTimeOffset? signOfLife) =>
        signOfLife is { } alive && alive > stored ? alive : stored;

    /// <summary>
    /// Raises the alert if the silence is due and the sensor is not paused, else arms the timer for the deadline or
    /// for the end of the pause (a silence that outlasts the pause is raised then, silent since its deadline); true
    /// when an alert was raised.
    /// </summary>
    private async Task<bool> JudgeSilenceAsync()
    {
        if (SilenceDeadline() is not { } deadline)
        {
            return false;
        }

        var now = clock.GetUtcNow();
        if (now >= deadline)
        {
            try
            {
                await maintenance.EnsureLoadedAsync();
            }
            catch (Exception e) when (DatabaseFailure.Is(e))
            {
                // Without the windows a raise could fall inside one; the database is needed to raise anyway.
                Silence.Arm(now + RetryDelay, force: true);
                return false;
            }

            if (maintenance.PausedUntil(_sensor!.Tags, _sensor.PausedUntil, now) is { } pauseEnd)
            {
                LogSilenceWhilePaused(logger, Name, pauseEnd);
                Silence.Arm(pauseEnd, force: true);
                return false;
            }

            return await RaiseSilenceAsync(deadline);
        }

        await WatchAsync(deadline, force: true);
        return false;
    }

    /// <summary>
    /// Arms the wake-up for a silence not yet due. An online sensor is woken first when its silence comes within
    /// <see cref="Reach"/>, which registers its reminder (so a silo lost from then on still has it raised), then at
    /// the deadline; one that never gets that close (steady heartbeats) holds no reminder, and the sweep is what
    /// finds its silence if its silo dies. A pending sensor has no reminder: the sweep backs it.
    /// </summary>
    private async Task WatchAsync(DateTimeOffset deadline, bool force)
    {
        if (_sensor is not { Status: SensorStatus.Online })
        {
            Silence.Arm(deadline, force);
            return;
        }

        var now = clock.GetUtcNow();
        var inReach = deadline - Reach;
        if (now >= inReach)
        {
            // First tick a check period after the deadline: while the silo lives the schedule raises it on time.
            await Silence.EnsureReminderAsync(deadline - now + options.Value.SilenceCheckPeriod);
            Silence.Arm(deadline, force);
        }
        else
        {
            Silence.Arm(Silence.ReminderRegistered ? deadline : inReach, force);
        }
    }

    /// <summary>
    /// The database cannot be read: raising needs it anyway, so the grain wakes again when the silence is due by
    /// what it holds (signs of life included), or in a few seconds if that has passed. With nothing to watch (never
    /// loaded, silent, retired), the reminder or the sweep asks again.
    /// </summary>
    private void WatchWhileUnreadable()
    {
        // A silent sensor with a sign of life is watched too: the write behind that sign may have ended its silence.
        if ((_sensor is null ? null : SilenceDeadline() ?? _signOfLife + Threshold) is not { } due)
        {
            return;
        }

        var now = clock.GetUtcNow();
        Silence.Arm(due > now ? due : now + RetryDelay, force: true);
    }

    /// <summary>
    /// A heartbeat the database could not take while the sensor could not be loaded: a sign of life if its token is
    /// the one last read, else (never read) remembered until the sensor is loaded and its token can be checked.
    /// </summary>
    private void NoteAttempt(string tokenHash, DateTimeOffset at)
    {
        if (_sensor is { } known)
        {
            if (known.Status != SensorStatus.Retired && SensorTokens.Matches(tokenHash, known.TokenHash))
            {
                NoteSignOfLife(at);
            }

            return;
        }

        _unverified ??= new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        if (_unverified.Count >= MaxUnverifiedTokens && !_unverified.ContainsKey(tokenHash))
        {
            // Bounded: a flood of wrong tokens can push the right one out (a late alert at worst, never a missed one).
            _unverified.Remove(_unverified.MinBy(attempt => attempt.Value).Key);
        }

        _unverified[tokenHash] = at;
    }

    /// <summary>The sensor is alive at <paramref name="at"/> though nothing was stored: its silence is counted from here.</summary>
    private void NoteSignOfLife(DateTimeOffset at)
    {
        if (_signOfLife is null || at > _signOfLife)
        {
            _signOfLife = at;
        }

        // Checked again once a silence could be due from here; for a silent sensor too, whose lost reply may have
        // ended its silence in the database.
        Silence.Arm(at + Threshold);
    }

    /// <summary>Holds <paramref name="sensor"/> as read from the database, checks remembered tokens, and arms the timer.</summary>
    private void Take(SensorRecord? sensor)
    {
        _sensor = sensor;
        _loaded = true;
        if (_unverified is { } attempts && sensor is { Status: not SensorStatus.Retired })
        {
            foreach (var (tokenHash, at) in attempts)
            {
                if (SensorTokens.Matches(tokenHash, sensor.TokenHash) && (_signOfLife is null || at > _signOfLife))
                {
                    _signOfLife = at;
                }
            }
        }

        _unverified = null;
        if (SilenceDeadline() is { } deadline)
        {
            // Only armed, never raised here: the call that woke the grain decides (a heartbeat is proof of life).
            Silence.Arm(sensor is { Status: SensorStatus.Online } && !Silence.ReminderRegistered ? deadline - Reach : deadline, force: true);
        }
        else
        {
            Silence.Disarm();
        }
    }

    private async Task<bool> RaiseSilenceAsync(DateTimeOffset silentSince)
    {
        var sensor = _sensor!;
        var kind = sensor.Status == SensorStatus.Pending ? Alert.NeverReported : Alert.Silent;
        Alert alert;
        try
        {
            alert = await alerts.RaiseSilenceAsync(sensor.Id, Name, kind, silentSince, clock.GetUtcNow(), CancellationToken.None);
        }
        catch (Exception e) when (DatabaseFailure.Is(e))
        {
            // Stay as we are so the timer (soon) and the reminder or the sweep (at the latest) try again. The raise
            // may have committed all the same (a lost reply): the next call reads the sensor again before acting.
            _loaded = false;
            LogRaiseFailed(logger, Name, e.Message);
            Silence.Arm(clock.GetUtcNow() + RetryDelay, force: true);
            return false;
        }

        _sensor = sensor with { Status = SensorStatus.Silent, OpenAlert = alert };
        Silence.Disarm();
        if (alert.Kind == Alert.NeverReported)
        {
            LogNeverReported(logger, Name, alert.SilentSince, alert.Id);
        }
        else
        {
            LogWentSilent(logger, Name, alert.SilentSince, alert.Id);
        }

        await Dashboard.AlertChanged(alert);
        await Dashboard.SensorChanged();
        await NotifyWatchersAsync();
        await Silence.RemoveReminderAsync();
        return true;
    }

    /// <summary>The open alert as resolved at <paramref name="at"/>, never before it was raised (as the database records it).</summary>
    private static Alert Resolved(Alert alert, DateTimeOffset at) =>
        alert with { ResolvedAt = at > alert.RaisedAt ? at : alert.RaisedAt };

    /// <summary>Loads the sensor if needed; false (logged) when the database did not answer.</summary>
    private async Task<bool> TryEnsureLoadedAsync()
    {
        try
        {
            await EnsureLoadedAsync();
            return true;
        }
        catch (Exception e) when (DatabaseFailure.Is(e))
        {
            LogLoadFailure(e);
            return false;
        }
    }

    private void LogLoadFailure(Exception e)
    {
        // In an outage every sensor's every heartbeat fails to load: one warning every few seconds per silo says it.
        if (loadWarnings.TakeTurn())
        {
            LogLoadFailed(logger, Name, e.Message);
        }
        else
        {
            LogLoadFailedAgain(logger, Name, e.Message);
        }
    }

    /// <summary>Loads the sensor, with its status from the view, once per activation and again after doubt.</summary>
    private async Task EnsureLoadedAsync()
    {
        if (_loaded)
        {
            return;
        }

        Take(await store.LoadAsync(Name, CancellationToken.None));
    }

    /// <summary>
    /// The receive time to record: never earlier than, nor equal to, the previous heartbeat's (the
    /// heartbeat key is sensor + time), at the microsecond precision PostgreSQL keeps.
    /// </summary>
    private static DateTimeOffset NextReceiveTime(DateTimeOffset receivedAt, DateTimeOffset? previous)
    {
        var utc = HeartbeatTimes.ToStoredPrecision(receivedAt);
        return previous is { } last && utc <= last ? last + HeartbeatTimes.Resolution : utc;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Sensor grain {Sensor} activated")]
    private static partial void LogActivated(ILogger logger, string sensor);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sensor {Sensor}: could not load from the database (other sensors' failures in the next 10 s are logged at Debug): {Reason}")]
    private static partial void LogLoadFailed(ILogger logger, string sensor, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Sensor {Sensor}: could not load from the database: {Reason}")]
    private static partial void LogLoadFailedAgain(ILogger logger, string sensor, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sensor {Sensor}: could not record its silence, retrying: {Reason}")]
    private static partial void LogRaiseFailed(ILogger logger, string sensor, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor {Sensor} went silent at {SilentSince:O} (alert {AlertId})")]
    private static partial void LogWentSilent(ILogger logger, string sensor, DateTimeOffset silentSince, long alertId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor {Sensor} never reported: silent since {SilentSince:O}, provisioning + threshold (alert {AlertId})")]
    private static partial void LogNeverReported(ILogger logger, string sensor, DateTimeOffset silentSince, long alertId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor {Sensor}: imported heartbeats ended its silence in the past; alert {AlertId} resolved at {ResolvedAt:O}")]
    private static partial void LogSilenceEndedInHistory(ILogger logger, string sensor, long alertId, DateTimeOffset resolvedAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor {Sensor} paused until {Until:O}")]
    private static partial void LogPaused(ILogger logger, string sensor, DateTimeOffset until);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor {Sensor} resumed")]
    private static partial void LogResumed(ILogger logger, string sensor);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Sensor {Sensor} is silent past its threshold while paused; judged again when the pause ends at {Until:O}")]
    private static partial void LogSilenceWhilePaused(ILogger logger, string sensor, DateTimeOffset until);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor {Sensor} is reporting again")]
    private static partial void LogRecovered(ILogger logger, string sensor);
}
