using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Alerts;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// The database's own check for silences: every <see cref="MonitoringOptions.SweepPeriod"/>, one silo at a time
/// reads the sensors that are overdue by the database's account (last heartbeat, or provisioning for a sensor
/// never heard from, + threshold, passed) with no open alert, and asks each one's grain to confirm
/// (<see cref="ISensorGrain.ConfirmSilence"/>): the grain reloads if it holds something else, counts the signs of
/// life only it knows (heartbeats answered 503), and raises the alert, with the one-open rule, if it is due. So
/// whatever lost a sensor's timer and reminder (a silo crash right after a first heartbeat, lost reminder rows, a
/// commit whose outcome was unknown), the alert comes at most one sweep period after the silence began. Overdue
/// sensors whose grains are active nowhere (after a full restart, all of them) need no grain: their alerts are
/// raised in bulk, by the same rules, one transaction per 100 sensors, eight at a time. A silo sweeps once as it becomes active, then
/// every period.
/// </summary>
/// <remarks>
/// One silo at a time: each sweep runs in a transaction that first takes <see cref="LockKey"/> with
/// <c>pg_try_advisory_xact_lock</c> and holds it until the sweep is done; a silo that finds it taken skips its turn.
/// Chosen over a single grain on a reminder because that grain and its reminder would die with their silo and
/// wait, like every grain there, for the cluster to declare it dead; every silo's sweep runs on its own, so the
/// survivors keep sweeping the moment a silo is gone. It runs while the silo is active, on the monitoring clock.
/// </remarks>
public sealed partial class SilenceSweep(
    NpgsqlDataSource db,
    AlertStore alerts,
    IGrainFactory grains,
    IOptions<MonitoringOptions> options,
    [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
    ILogger<SilenceSweep> logger) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    /// <summary>The sweep's advisory lock key; listed with the server's others in <c>AdvisoryLocks</c>.</summary>
    public const long LockKey = 0x5345_4E53_3336_3012;

    /// <summary>
    /// Overdue sensors handled at a time (the longest overdue first), read from one statement's cursor: a sweep reads
    /// on until the backlog is done, so a backlog (after a full restart, every silence that came due while nothing
    /// ran) is raised by one sweep; normally a sweep finds none: a sensor's own timer raises its alert first.
    /// </summary>
    public const int PageSize = 10_000;

    // Grain calls at once, for overdue sensors whose grains are active (such a grain holds its sensor already, so a
    // call is at most one alert insert), and bulk-raise transactions at once; never both together. Eight stays under
    // the 9 connections the default budget leaves for such work.
    private const int Concurrency = 8;

    // Sensors raised in bulk per transaction: it holds their raise locks, and a first heartbeat of one of them waits for it
    // with the whole heartbeat batch it shares (past the writer's 2 s lock timeout the batch is answered 503), so each
    // is kept to a few milliseconds; at 1,000 a loaded machine made bring-online heartbeats fail in the rewatch bench.
    private const int BulkRaiseChunk = 100;

    // A grain that does not answer in this time is asked again by the next sweep.
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);

    private readonly SiloLoop _loop = new();

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SilenceSweep), ServiceLifecycleStage.Active, StartAsync, _loop.StopAsync);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        // Made here, not in the loop: the first period counts from the moment the silo became active.
        var timer = new PeriodicTimer(options.Value.SweepPeriod, clock);
        _loop.Start(stopping => RunAsync(timer, stopping));
        return Task.CompletedTask;
    }

    public void Dispose() => _loop.Dispose();

    private async Task RunAsync(PeriodicTimer timer, CancellationToken stopping)
    {
        using (timer)
        {
            try
            {
                // Off the silo's start, then a first sweep at once: after a full restart the silences that came due
                // while nothing ran are raised now, not a period later.
                await Task.Yield();
                await SweepOrLogAsync(stopping);
                while (await timer.WaitForNextTickAsync(stopping))
                {
                    await SweepOrLogAsync(stopping);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
        }
    }

    private async Task SweepOrLogAsync(CancellationToken stopping)
    {
        try
        {
            await SweepAsync(stopping);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Whatever went wrong, the sweep must outlive it: the next period tries again.
            LogFailed(logger, e.Message.ReplaceLineEndings(" "));
        }
    }

    /// <summary>One sweep, unless another silo is sweeping.</summary>
    private async Task SweepAsync(CancellationToken stopping)
    {
        var started = Stopwatch.GetTimestamp();
        await using var connection = await db.OpenConnectionAsync(stopping);
        await using var transaction = await connection.BeginTransactionAsync(stopping);
        await using (var take = new NpgsqlCommand("SELECT pg_try_advisory_xact_lock($1)", connection, transaction))
        {
            take.Parameters.AddWithValue(LockKey);
            if (await take.ExecuteScalarAsync(stopping) is not true)
            {
                LogSkipped(logger);
                return;
            }
        }

        int overdue = 0, raisedInBulk = 0, raisedByGrains = 0, raisedUnreachable = 0;
        ActiveSensorGrains? active = null;
        var backlog = await SensorStore.OpenOverdueAsync(connection, transaction, clock.GetUtcNow(), options.Value.SilenceThreshold, stopping);
        while (true)
        {
            var page = await backlog.ReadAsync(PageSize, stopping);
            if (page.Count == 0)
            {
                break;
            }

            overdue += page.Count;
            // Asked once a sweep, and only when something is overdue (normally never).
            active ??= await ReadActiveSensorGrainsAsync(page[0].Name);
            var unwatched = active.Known ? page.Where(sensor => !active.Contains(sensor.Name)).ToList() : [];
            raisedInBulk += await RaiseInBulkAsync(unwatched, stopping);
            var unreachable = new ConcurrentQueue<(OverdueSensor Sensor, string Reason)>();
            raisedByGrains += await ConfirmEachAsync(unwatched.Count == 0 ? page : [.. page.Except(unwatched)], unreachable, stopping);
            raisedUnreachable += await RaiseForUnreachableGrainsAsync(unreachable, stopping);
            if (page.Count < PageSize)
            {
                break;
            }
        }

        // The lock is held until here, so no other silo asks the same grains meanwhile.
        await transaction.CommitAsync(stopping);
        var took = Stopwatch.GetElapsedTime(started);
        if (raisedInBulk + raisedByGrains + raisedUnreachable > 0)
        {
            LogRaised(logger, raisedInBulk + raisedByGrains + raisedUnreachable, overdue, raisedInBulk, raisedUnreachable, took.TotalMilliseconds);
        }
        else
        {
            LogSwept(logger, overdue, took.TotalMilliseconds);
        }
    }

    /// <summary>
    /// The sensor grains active anywhere in the cluster (<see cref="IManagementGrain.GetActiveGrains(GrainType)"/>: each silo
    /// lists its activations of the type, including those still activating). Unknown when a silo does not answer
    /// (one that died, not yet declared dead): then every overdue sensor is confirmed through its grain, as before.
    /// </summary>
    private async Task<ActiveSensorGrains> ReadActiveSensorGrainsAsync(string anySensor)
    {
        try
        {
            var sensorGrainType = grains.GetGrain<ISensorGrain>(anySensor).GetGrainId().Type;
            var ids = await grains.GetGrain<IManagementGrain>(0).GetActiveGrains(sensorGrainType).AsTask().WaitAsync(CallTimeout);
            return new ActiveSensorGrains([.. ids.Select(id => id.Key.ToString())]);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogActiveGrainsUnknown(logger, e.Message.ReplaceLineEndings(" "));
            return new ActiveSensorGrains(null);
        }
    }

    /// <summary>
    /// Raises the alerts of overdue sensors whose grains were active nowhere, 100 to a transaction, by the rules a
    /// grain keeps (<see cref="AlertStore.RaiseSilencesIfUnchangedAsync(IReadOnlyList{OverdueSensor}, DateTimeOffset, CancellationToken)"/>),
    /// then tells the dashboard grain once: it reads the open alerts from the database within a second. A grain
    /// that activates meanwhile loads the alert, or resolves it with its first heartbeat if it read its sensor first.
    /// </summary>
    private async Task<int> RaiseInBulkAsync(List<OverdueSensor> sensors, CancellationToken stopping)
    {
        var raised = (await RaiseIfUnchangedAsync(sensors, stopping)).Count;
        if (raised > 0)
        {
            LogRaisedInBulk(logger, raised, sensors.Count);
        }

        return raised;
    }

    /// <summary>
    /// Raises by the database's account alone (<see cref="AlertStore.RaiseSilencesIfUnchangedAsync(IReadOnlyList{OverdueSensor}, DateTimeOffset, CancellationToken)"/>),
    /// 100 sensors to a transaction, eight at a time, and tells the dashboard grain once; the alerts raised.
    /// </summary>
    private async Task<IReadOnlyCollection<Alert>> RaiseIfUnchangedAsync(List<OverdueSensor> sensors, CancellationToken stopping)
    {
        if (sensors.Count == 0)
        {
            return [];
        }

        // Several transactions at once: each waits mostly for its commit, which the database then shares among them.
        var raised = new ConcurrentQueue<Alert>();
        await Parallel.ForEachAsync(
            sensors.Chunk(BulkRaiseChunk),
            new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = stopping },
            async (chunk, cancellationToken) =>
            {
                try
                {
                    foreach (var alert in await alerts.RaiseSilencesIfUnchangedAsync(chunk, clock.GetUtcNow(), cancellationToken))
                    {
                        raised.Enqueue(alert);
                    }
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    LogBulkRaiseFailed(logger, chunk.Length, e.Message.ReplaceLineEndings(" "));
                }
            });

        if (!raised.IsEmpty)
        {
            try
            {
                await grains.GetGrain<IDashboardGrain>(0).SensorChanged();
            }
            catch (OrleansException)
            {
                // The dashboard grain reconciles with the database every few seconds wherever it lives.
            }
        }

        return raised;
    }

    /// <summary>
    /// Has each sensor's grain confirm its silence, a few at a time; the number of alerts raised. Sensors whose grains'
    /// silo could not be reached are added to <paramref name="unreachable"/>.
    /// </summary>
    private async Task<int> ConfirmEachAsync(
        IReadOnlyList<OverdueSensor> sensors, ConcurrentQueue<(OverdueSensor Sensor, string Reason)> unreachable, CancellationToken stopping)
    {
        var raised = 0;
        await Parallel.ForEachAsync(
            sensors,
            new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = stopping },
            async (sensor, _) =>
            {
                if (await ConfirmAsync(sensor, unreachable))
                {
                    Interlocked.Increment(ref raised);
                }
            });
        return raised;
    }

    /// <summary>Has the sensor's grain confirm the silence; true when an alert was raised by this call.</summary>
    private async Task<bool> ConfirmAsync(OverdueSensor sensor, ConcurrentQueue<(OverdueSensor Sensor, string Reason)> unreachable)
    {
        try
        {
            return await grains.GetSensorGrain(sensor.Name).ConfirmSilence(sensor.LastHeartbeatAt).WaitAsync(CallTimeout);
        }
        catch (Exception e) when (e is OrleansMessageRejectionException or SiloUnavailableException)
        {
            // The grain's silo is gone and not yet declared dead: nothing watches the sensor, and no call reaches
            // it until the cluster notices (tens of seconds). The database alone decides, once the page is confirmed.
            unreachable.Enqueue((sensor, e.Message));
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Timed out, or failed in the grain: one sensor's trouble does not stop the sweep of the others.
            LogConfirmFailed(logger, sensor.Name, e.Message.ReplaceLineEndings(" "));
            return false;
        }
    }

    /// <summary>
    /// Raises the alerts of overdue sensors whose grains' silo could not be reached, as the sweep read them, together
    /// (<see cref="RaiseIfUnchangedAsync"/>): one by one, with a transaction and two dashboard calls each, a silo's
    /// worth of them kept the sweep past the next sensors' deadlines on a loaded machine. A Warning names each.
    /// </summary>
    private async Task<int> RaiseForUnreachableGrainsAsync(ConcurrentQueue<(OverdueSensor Sensor, string Reason)> unreachable, CancellationToken stopping)
    {
        if (unreachable.IsEmpty)
        {
            return 0;
        }

        var reasons = unreachable.ToDictionary(entry => entry.Sensor.Name, entry => entry.Reason, StringComparer.Ordinal);
        var raised = await RaiseIfUnchangedAsync([.. unreachable.Select(entry => entry.Sensor)], stopping);
        foreach (var alert in raised)
        {
            LogRaisedForUnreachableGrain(logger, alert.SensorId, alert.Id, reasons[alert.SensorId].ReplaceLineEndings(" "));
        }

        return raised.Count;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Silence sweep skipped: another silo is sweeping")]
    private static partial void LogSkipped(ILogger logger);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Silence sweep: {Overdue} overdue sensors confirmed, no alert needed ({Milliseconds:0} ms)")]
    private static partial void LogSwept(ILogger logger, int overdue, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Silence sweep raised {Raised} alerts that no timer or reminder had raised ({Overdue} overdue sensors, {InBulk} raised in bulk for grains active nowhere, {Unreachable} for grains on an unreachable silo, {Milliseconds:0} ms)")]
    private static partial void LogRaised(ILogger logger, int raised, int overdue, int inBulk, int unreachable, double milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Silence sweep raised {Raised} alerts in bulk ({Sensors} overdue sensors whose grains were active nowhere)")]
    private static partial void LogRaisedInBulk(ILogger logger, int raised, int sensors);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Silence sweep could not raise the alerts of {Sensors} sensors in bulk; the next sweep tries again: {Reason}")]
    private static partial void LogBulkRaiseFailed(ILogger logger, int sensors, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Silence sweep could not learn which sensor grains are active; it asks each overdue sensor's grain: {Reason}")]
    private static partial void LogActiveGrainsUnknown(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Silence sweep failed, the next one tries again: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Silence sweep could not reach sensor {Sensor}; the next sweep asks again: {Reason}")]
    private static partial void LogConfirmFailed(ILogger logger, string sensor, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sensor {Sensor}: its grain's silo is unreachable; the silence sweep raised alert {AlertId} itself: {Reason}")]
    private static partial void LogRaisedForUnreachableGrain(ILogger logger, string sensor, long alertId, string reason);
}

/// <summary>The public ids of the sensors whose grains are active in the cluster; <see cref="Known"/> false when that could not be learnt.</summary>
internal sealed class ActiveSensorGrains(HashSet<string>? names)
{
    public bool Known => names is not null;

    public bool Contains(string name) => names?.Contains(name) ?? true;
}
