using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Utilities;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Dashboard;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// One sensor's life. Its record is the database (<c>sensor</c>, <c>heartbeat</c>, <c>alert</c>), not
/// Orleans grain state: heartbeats are appended through the silo's <see cref="IHeartbeatWriter"/>, and the
/// grain rebuilds itself from the tables whenever it activates.
///
/// Silence is detected on time by an in-memory timer armed for last heartbeat + threshold, and backed by
/// a reminder (<see cref="SilenceReminder"/>) that survives the silo: registered when the sensor comes
/// online, unregistered when it goes silent or retires, untouched by steady heartbeats.
/// </summary>
public sealed partial class SensorGrain(
    SensorStore store,
    IHeartbeatWriter heartbeats,
    HeartbeatTally tally,
    IOptions<MonitoringOptions> options,
    [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
    ILogger<SensorGrain> logger) : Grain, ISensorGrain, IRemindable
{
    // How soon to try again when the database refused to record a silence.
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    private SensorRecord? _sensor;
    private bool _loaded;
    private SensorStatus _status;
    private const long TicksPerMicrosecond = TimeSpan.TicksPerMillisecond / 1000;

    private ITimer? _silenceTimer;
    // Only watched sensors pay for an observer list; most never are.
    private ObserverManager<ISensorObserver>? _watchers;
    private DateTimeOffset? _timerDue;
    // Null until this activation has checked; then whether the silence reminder is known to exist.
    private bool? _reminderRegistered;

    private string Name => this.GetPrimaryKeyString();

    // State changes (never single heartbeats) go to the fleet aggregate, one-way.
    private IDashboardGrain Dashboard => GrainFactory.GetGrain<IDashboardGrain>(0);

    private TimeSpan Threshold => _sensor?.SilenceThresholdSeconds is { } seconds
        ? TimeSpan.FromSeconds(seconds)
        : options.Value.SilenceThreshold;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Not fatal if the database does not answer: every call loads again until it does.
        await TryEnsureLoadedAsync();
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _silenceTimer?.Dispose();
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

            _sensor = new SensorRecord(row.Id, Name, registration.Tags, row.CreatedAt, null, null, 0, null,
                registration.SilenceThresholdSeconds, registration.TokenHash, null);
            _status = SensorStatus.Pending;
            await Dashboard.SensorChanged();
            return ProvisionResult.Created;
        }
        catch (Exception e) when (IsDatabaseFailure(e))
        {
            return ProvisionResult.Unavailable;
        }
    }

    public async Task<HeartbeatResult> Heartbeat(HeartbeatReport report)
    {
        if (!await TryEnsureLoadedAsync())
        {
            return HeartbeatResult.Unavailable;
        }

        if (_sensor is not { } sensor)
        {
            // Nothing to keep in memory for an id nobody provisioned (e.g. someone probing ids).
            DeactivateOnIdle();
            return HeartbeatResult.Unauthorized;
        }

        if (!SensorTokens.Matches(report.TokenHash, sensor.TokenHash))
        {
            return HeartbeatResult.Unauthorized;
        }

        if (_status == SensorStatus.Retired)
        {
            return HeartbeatResult.Retired;
        }

        var receivedAt = NextReceiveTime(report.ReceivedAt, sensor.LastHeartbeatAt);
        try
        {
            await heartbeats.AppendAsync(new HeartbeatRecord(sensor.Id, receivedAt, report.MetricsJson, sensor.OpenAlertId));
        }
        catch (HeartbeatLogUnavailableException)
        {
            return HeartbeatResult.Unavailable;
        }

        _sensor = sensor with
        {
            FirstHeartbeatAt = sensor.FirstHeartbeatAt ?? receivedAt,
            LastHeartbeatAt = receivedAt,
            HeartbeatCount = sensor.HeartbeatCount + 1,
            OpenAlertId = null,
            OpenAlertSilentSince = null,
            OpenAlertRaisedAt = null,
        };
        tally.Record(receivedAt, receivedAt - sensor.LastHeartbeatAt);

        if (_status != SensorStatus.Online)
        {
            if (_status == SensorStatus.Silent)
            {
                LogRecovered(logger, Name);
                if (sensor.OpenAlertId is { } resolved)
                {
                    await Dashboard.AlertChanged(AlertNotice(resolved, sensor, receivedAt));
                }
            }

            _status = SensorStatus.Online;
            await Dashboard.SensorChanged();
        }

        ArmSilenceTimer();
        if (_reminderRegistered != true)
        {
            await EnsureReminderAsync();
        }

        await NotifyWatchersAsync();
        return HeartbeatResult.Stored;
    }

    public async Task<SensorCommandResult> Retire()
    {
        try
        {
            await EnsureLoadedAsync();
            if (_sensor is not { } sensor)
            {
                return SensorCommandResult.NotFound;
            }

            if (_status != SensorStatus.Retired)
            {
                var now = clock.GetUtcNow();
                await store.RetireAsync(sensor.Id, now, CancellationToken.None);
                _sensor = sensor with { RetiredAt = now, OpenAlertId = null, OpenAlertSilentSince = null, OpenAlertRaisedAt = null };
                _status = SensorStatus.Retired;
                if (sensor.OpenAlertId is { } resolved)
                {
                    await Dashboard.AlertChanged(AlertNotice(resolved, sensor, now));
                }

                await Dashboard.SensorChanged();
                await NotifyWatchersAsync();
                DisarmSilenceTimer();
            }

            await UnregisterReminderAsync();
            return SensorCommandResult.Done;
        }
        catch (Exception e) when (IsDatabaseFailure(e))
        {
            return SensorCommandResult.Unavailable;
        }
    }

    public async Task<SensorCommandResult> RotateToken(string tokenHash)
    {
        try
        {
            await EnsureLoadedAsync();
            if (_sensor is not { } sensor)
            {
                return SensorCommandResult.NotFound;
            }

            if (_status == SensorStatus.Retired)
            {
                return SensorCommandResult.Retired;
            }

            await store.RotateTokenAsync(sensor.Id, tokenHash, CancellationToken.None);
            _sensor = sensor with { TokenHash = tokenHash };
            return SensorCommandResult.Done;
        }
        catch (Exception e) when (IsDatabaseFailure(e))
        {
            return SensorCommandResult.Unavailable;
        }
    }

    public async Task<SensorSnapshot?> Describe()
    {
        await EnsureLoadedAsync();
        return Snapshot();
    }

    private SensorSnapshot? Snapshot() => _sensor is not { } sensor
        ? null
        : new SensorSnapshot(Name, sensor.Tags, _status, sensor.CreatedAt, sensor.FirstHeartbeatAt, sensor.LastHeartbeatAt,
            sensor.HeartbeatCount, (int)Threshold.TotalSeconds, sensor.OpenAlertId);

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
            return; // The reminder's next tick tries again.
        }

        switch (_status)
        {
            case SensorStatus.Online when _sensor?.LastHeartbeatAt is { } last:
                var deadline = last + Threshold;
                if (clock.GetUtcNow() >= deadline)
                {
                    await RaiseSilenceAsync(deadline);
                }
                else
                {
                    ArmSilenceTimer(force: true);
                }

                break;
            case SensorStatus.Silent or SensorStatus.Retired or SensorStatus.Pending when _reminderRegistered != false:
                // Left over from an interrupted transition: a reminder only belongs to an online sensor.
                await UnregisterReminderAsync();
                break;
        }
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => CheckSilence();

    private async Task RaiseSilenceAsync(DateTimeOffset silentSince)
    {
        var sensor = _sensor!;
        long alertId;
        var raisedAt = clock.GetUtcNow();
        try
        {
            alertId = await store.RaiseSilenceAsync(sensor.Id, silentSince, raisedAt, CancellationToken.None);
        }
        catch (Exception e) when (IsDatabaseFailure(e))
        {
            // Stay online so the timer (soon) and the reminder (at the latest) try again.
            LogRaiseFailed(logger, Name, e.Message);
            ArmSilenceTimer(retryAfter: RetryDelay);
            return;
        }

        _sensor = sensor with { OpenAlertId = alertId, OpenAlertSilentSince = silentSince, OpenAlertRaisedAt = raisedAt };
        _status = SensorStatus.Silent;
        DisarmSilenceTimer();
        LogWentSilent(logger, Name, silentSince, alertId);
        await Dashboard.AlertChanged(AlertNotice(alertId, _sensor, resolvedAt: null));
        await Dashboard.SensorChanged();
        await NotifyWatchersAsync();
        await UnregisterReminderAsync();
    }

    /// <summary>The sensor's open silence alert as the feed announces it (raised, or resolved at <paramref name="resolvedAt"/>).</summary>
    private AlertNotice AlertNotice(long alertId, SensorRecord sensor, DateTimeOffset? resolvedAt) => new(
        alertId,
        Name,
        "silent",
        sensor.OpenAlertSilentSince ?? sensor.LastHeartbeatAt.GetValueOrDefault() + Threshold,
        sensor.OpenAlertRaisedAt ?? sensor.OpenAlertSilentSince ?? DateTimeOffset.MinValue,
        resolvedAt);

    /// <summary>Loads the sensor if needed; false (logged) when the database did not answer.</summary>
    private async Task<bool> TryEnsureLoadedAsync()
    {
        try
        {
            await EnsureLoadedAsync();
            return true;
        }
        catch (Exception e) when (IsDatabaseFailure(e))
        {
            LogLoadFailed(logger, Name, e.Message);
            return false;
        }
    }

    /// <summary>Loads the sensor from the database once per activation and settles its status from the record.</summary>
    private async Task EnsureLoadedAsync()
    {
        if (_loaded)
        {
            return;
        }

        _sensor = await store.LoadAsync(Name, CancellationToken.None);
        _loaded = true;
        _status = _sensor switch
        {
            null => SensorStatus.Pending,
            { RetiredAt: not null } => SensorStatus.Retired,
            { OpenAlertId: not null } => SensorStatus.Silent,
            { LastHeartbeatAt: null } => SensorStatus.Pending,
            _ => SensorStatus.Online,
        };
        if (_status == SensorStatus.Online && _sensor!.LastHeartbeatAt is { } last)
        {
            // Woken after a restart or by the reminder: the silence may have come due while nobody watched.
            if (clock.GetUtcNow() >= last + Threshold)
            {
                await RaiseSilenceAsync(last + Threshold);
            }
            else
            {
                ArmSilenceTimer();
            }
        }
    }

    /// <summary>
    /// Arms the one silence timer for last heartbeat + threshold. Heartbeats only move the deadline: an
    /// earlier wake-up already set is left alone and re-arms itself when it finds the sensor still fresh,
    /// so steady heartbeats cost no timer churn.
    /// </summary>
    private void ArmSilenceTimer(TimeSpan? retryAfter = null, bool force = false)
    {
        if (_sensor?.LastHeartbeatAt is not { } last || (_timerDue is not null && !force && retryAfter is null))
        {
            return;
        }

        var now = clock.GetUtcNow();
        var due = retryAfter is { } delay ? now + delay : last + Threshold;
        if (_silenceTimer is null)
        {
            var self = this.AsReference<ISensorGrain>();
            // The callback runs outside the grain; it comes back in through an ordinary grain call.
            _silenceTimer = clock.CreateTimer(_ => self.CheckSilence().Ignore(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        _silenceTimer.Change(due > now ? due - now : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        _timerDue = due;
    }

    private void DisarmSilenceTimer()
    {
        _silenceTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _timerDue = null;
    }

    /// <summary>Makes sure the reminder exists, reading before writing so a re-activation costs no write.</summary>
    private async Task EnsureReminderAsync()
    {
        try
        {
            if (_reminderRegistered is null && await this.GetReminder(SilenceReminder.Name) is not null)
            {
                _reminderRegistered = true;
                return;
            }

            var period = options.Value.SilenceCheckPeriod;
            await this.RegisterOrUpdateReminder(SilenceReminder.Name, period, period);
            _reminderRegistered = true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The timer still watches while the silo lives; the next heartbeat tries the reminder again.
            _reminderRegistered = false;
            LogReminderFailed(logger, Name, "register", e.Message);
        }
    }

    private async Task UnregisterReminderAsync()
    {
        try
        {
            if (await this.GetReminder(SilenceReminder.Name) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }

            _reminderRegistered = false;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Harmless: a stray tick finds the sensor not online and tries again.
            LogReminderFailed(logger, Name, "unregister", e.Message);
        }
    }

    /// <summary>
    /// The receive time to record: never earlier than, nor equal to, the previous heartbeat's (the
    /// heartbeat key is sensor + time), at the microsecond precision PostgreSQL keeps.
    /// </summary>
    private static DateTimeOffset NextReceiveTime(DateTimeOffset receivedAt, DateTimeOffset? previous)
    {
        var utc = receivedAt.ToUniversalTime();
        utc = utc.AddTicks(-(utc.Ticks % TicksPerMicrosecond));
        return previous is { } last && utc <= last ? last.AddTicks(TicksPerMicrosecond) : utc;
    }

    private static bool IsDatabaseFailure(Exception e) =>
        e is NpgsqlException or TimeoutException or InvalidOperationException { InnerException: NpgsqlException };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sensor {Sensor}: could not load from the database: {Reason}")]
    private static partial void LogLoadFailed(ILogger logger, string sensor, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sensor {Sensor}: could not record its silence, retrying: {Reason}")]
    private static partial void LogRaiseFailed(ILogger logger, string sensor, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor {Sensor} went silent at {SilentSince:O} (alert {AlertId})")]
    private static partial void LogWentSilent(ILogger logger, string sensor, DateTimeOffset silentSince, long alertId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor {Sensor} is reporting again")]
    private static partial void LogRecovered(ILogger logger, string sensor);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sensor {Sensor}: could not {Action} its silence reminder: {Reason}")]
    private static partial void LogReminderFailed(ILogger logger, string sensor, string action, string reason);
}
