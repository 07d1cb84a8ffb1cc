using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// The silo's checkpoint of its sensors' heartbeat counters (<c>sensor.first_heartbeat_at</c>,
/// <c>last_heartbeat_at</c>, <c>heartbeat_count</c>). The heartbeat rows are the record: a stored heartbeat is
/// only noted here, and every <see cref="MonitoringOptions.CheckpointPeriod"/> one transaction (a lock, then one
/// statement) moves the counters of all the sensors noted since, instead of one <c>UPDATE sensor</c> per heartbeat.
/// The rule the rows keep: every heartbeat at or before <c>last_heartbeat_at</c> is counted, none after; so a
/// checkpoint that was lost (a kill -9) or overtaken (a grain that moved, an import) is repaired by counting the
/// heartbeat rows between the two, and readers of one sensor add what lies past it (the <c>sensor_status_rebuilt</c> view). The same
/// statement counts in the interval histogram the intervals each sensor's checkpoint passes
/// (<see cref="HeartbeatIntervals.CountPassedSql"/>), so the histogram follows the same rule.
/// </summary>
public sealed partial class SensorCheckpoint(
    NpgsqlDataSource db,
    IOptions<MonitoringOptions> options,
    TimeProvider clock,
    IMeterFactory meters,
    ILogger<SensorCheckpoint> logger) : BackgroundService
{
    /// <summary>
    /// Counter of <see cref="HeartbeatLog.MeterName"/>: checkpoint statements committed (one per period with anything to
    /// write, plus one per group of first heartbeats).
    /// </summary>
    public const string WritesInstrument = "sensors360.checkpoint.writes";

    private readonly Lock _gate = new();
    private Dictionary<long, Dirty> _dirty = [];
    // First heartbeats waiting for the next early statement (WriteSoonAsync), and what completes when it commits.
    private readonly HashSet<long> _soon = [];
    private TaskCompletionSource? _soonWritten;
    private bool _soonWriting;
    // The periodic statement under way, if any: the sensors it took and what completes once it has committed or failed.
    private (Dictionary<long, Dirty> Taken, Task Done)? _periodic;
    // This silo's rows of the interval histogram, so no other silo's checkpoint waits on them; one set for the periodic
    // statement and one for the first heartbeats', which can run at the same time: a first heartbeat's answer, which
    // waits for its statement, never waits for the periodic one's buckets.
    private readonly int _periodicShard = HeartbeatIntervals.NewShard();
    private readonly int _soonShard = HeartbeatIntervals.NewShard();
    private readonly Counter<long> _writes = meters.Create(HeartbeatLog.MeterName)
        .CreateCounter<long>(WritesInstrument, "{statement}", "Checkpoint statements committed");

    /// <summary>
    /// Notes that the heartbeats of sensor <paramref name="sensorId"/> after <paramref name="after"/> (null: all) up to
    /// <paramref name="last"/>, <paramref name="count"/> of them, are stored and not yet in its counters.
    /// </summary>
    public void Note(long sensorId, DateTimeOffset? after, DateTimeOffset last, long count)
    {
        lock (_gate)
        {
            NoteHeld(sensorId, after, last, count);
        }
    }

    /// <summary>Notes a committed batch of heartbeats, one each (as <see cref="Note"/>), under one take of the lock.</summary>
    public void NoteStored(IReadOnlyList<HeartbeatRecord> stored)
    {
        lock (_gate)
        {
            foreach (var record in stored)
            {
                // Counted from the sensor's previous heartbeat (none: its first).
                NoteHeld(record.SensorId, record.ReceivedAt - record.Interval, record.ReceivedAt, 1);
            }
        }
    }

    private void NoteHeld(long sensorId, DateTimeOffset? after, DateTimeOffset last, long count)
    {
        if (!_dirty.TryGetValue(sensorId, out var known))
        {
            _dirty[sensorId] = new Dirty(after, count, last);
        }
        else if (known.Last == after && known.Count >= 0)
        {
            // Contiguous with what is noted: the counts add up.
            _dirty[sensorId] = known with { Count = known.Count + count, Last = last };
        }
        else if (last > known.Last)
        {
            // Not contiguous (the grain reloaded meanwhile): the checkpoint counts the rows instead.
            _dirty[sensorId] = known with { Count = Recount, Last = last };
        }
    }

    /// <summary>Sensors noted and not yet written.</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _dirty.Count;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.CheckpointPeriod, clock);
        try
        {
            // Once a start (each start takes new shards): what the silos before this one left is folded, tried again
            // each period until it is.
            var folded = await FoldOldShardsAsync(stoppingToken);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await WriteAsync(stoppingToken);
                if (!folded)
                {
                    folded = await FoldOldShardsAsync(stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            // Stopping in order: what is noted is written once more, so the next activation has less to count.
            using var last = new CancellationTokenSource(WriteTimeout);
            try
            {
                await WriteAsync(last.Token);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogWriteFailed(logger, e.Message.ReplaceLineEndings(" "));
            }
        }
    }

    private static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Folds the interval histogram's shards of other silos (stopped ones, and running ones, which write theirs again)
    /// into the import shard (<see cref="HeartbeatIntervals.FoldShardsAsync"/>); whether it did.
    /// </summary>
    private async Task<bool> FoldOldShardsAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(WriteTimeout);
        try
        {
            var folded = await HeartbeatIntervals.FoldShardsAsync(db, [_periodicShard, _soonShard], timeout.Token);
            if (folded is null)
            {
                LogFoldDeferred(logger);
                return false;
            }

            if (folded > 0)
            {
                LogFolded(logger, folded.Value);
            }

            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
        {
            LogFoldFailed(logger, e.Message.ReplaceLineEndings(" "));
            return false;
        }
    }

    // Marks an entry whose count is unknown: the statement counts its heartbeat rows.
    private const long Recount = -1;

    /// <summary>
    /// Writes everything noted in one transaction. Sensors whose row another transaction holds are skipped and kept for
    /// the next period, as is everything when the transaction fails; a row the database refuses is found by halving
    /// and dropped (its counters stay at the last checkpoint, which readers of the sensor complete from its rows).
    /// </summary>
    public async Task WriteAsync(CancellationToken cancellationToken)
    {
        Dictionary<long, Dirty> taken;
        TaskCompletionSource done;
        lock (_gate)
        {
            if (_dirty.Count == 0)
            {
                return;
            }

            taken = _dirty;
            _dirty = [];
            done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _periodic = (taken, done.Task);
        }

        // In id order, so two silos writing overlapping sensors (a grain that moved) lock rows in the same order.
        var ids = taken.Keys.Order().ToArray();
        try
        {
            await WriteIsolatingAsync(ids, taken, _periodicShard, cancellationToken);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever failed (the database, a timeout, a broken pool), nothing noted is lost.
            KeepForNextPeriod(ids, taken);
            if (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogWriteFailed(logger, e.Message.ReplaceLineEndings(" "));
            }

            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
        }
        finally
        {
            lock (_gate)
            {
                // Unless another periodic write (a stop's last one) has started since.
                if (_periodic?.Done == done.Task)
                {
                    _periodic = null;
                }
            }

            done.TrySetResult();
        }
    }

    /// <summary>What completes when the periodic statement holding <paramref name="sensorId"/> ends, if one does; called under the lock.</summary>
    private Task? PeriodicWriteOf(long sensorId) =>
        _periodic is { } periodic && periodic.Taken.ContainsKey(sensorId) ? periodic.Done : null;

    /// <summary>
    /// Writes a sensor's noted counters soon, not at the period: for its first heartbeat, so whole-fleet readers (the
    /// fleet aggregate) count it online as soon as the heartbeat is answered; once in a sensor's life, never per
    /// heartbeat. First heartbeats arriving together share one statement: the first waits
    /// <see cref="FirstHeartbeatGathering"/> for others, and those arriving while a statement runs go in the next,
    /// written as soon as it commits. Completes once the statement holding the sensor has committed; a failure keeps
    /// the note for the next period (the task completes all the same, as the heartbeat itself is stored).
    /// </summary>
    public Task WriteSoonAsync(long sensorId)
    {
        Task written;
        lock (_gate)
        {
            if (!_dirty.ContainsKey(sensorId))
            {
                // Taken by the periodic statement under way: its answer waits for that statement, not for none.
                return PeriodicWriteOf(sensorId) ?? Task.CompletedTask;
            }

            _soon.Add(sensorId);
            _soonWritten ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            written = _soonWritten.Task;
            if (_soonWriting)
            {
                return written;
            }

            _soonWriting = true;
        }

        // Started by the first caller and ended when nothing is left, so it needs no hosted loop to be running.
        _ = Task.Run(WriteSoonLoopAsync);
        return written;
    }

    /// <summary>How long the first of a group of first heartbeats waits for the others to share its statement.</summary>
    public static readonly TimeSpan FirstHeartbeatGathering = TimeSpan.FromMilliseconds(10);

    private async Task WriteSoonLoopAsync()
    {
        await Task.Delay(FirstHeartbeatGathering, clock);
        while (true)
        {
            Dictionary<long, Dirty> taken = [];
            TaskCompletionSource written;
            HashSet<Task> periodic = [];
            lock (_gate)
            {
                if (_soonWritten is null)
                {
                    _soonWriting = false;
                    return;
                }

                foreach (var sensorId in _soon)
                {
                    // Gone already when the periodic checkpoint took it meanwhile: then it is written (or kept) there,
                    // and the callers wait for that statement too.
                    if (_dirty.Remove(sensorId, out var dirty))
                    {
                        taken[sensorId] = dirty;
                    }
                    else if (PeriodicWriteOf(sensorId) is { } underWay)
                    {
                        periodic.Add(underWay);
                    }
                }

                _soon.Clear();
                written = _soonWritten;
                _soonWritten = null;
            }

            long[] ids = [.. taken.Keys.Order()];
            try
            {
                if (ids.Length > 0)
                {
                    await WriteIsolatingAsync(ids, taken, _soonShard, CancellationToken.None);
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                KeepForNextPeriod(ids, taken);
                LogWriteFailed(logger, e.Message.ReplaceLineEndings(" "));
            }
            finally
            {
                // The periodic statement's task never faults: it completes once that statement has ended either way.
                await Task.WhenAll(periodic);
                written.TrySetResult();
            }
        }
    }

    private async Task WriteIsolatingAsync(long[] ids, Dictionary<long, Dirty> taken, int shard, CancellationToken cancellationToken)
    {
        HashSet<long> written;
        try
        {
            written = await WriteRowsAsync(ids, taken, shard, cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState.StartsWith("22", StringComparison.Ordinal) || e.SqlState.StartsWith("23", StringComparison.Ordinal))
        {
            if (ids.Length == 1)
            {
                LogRowRefused(logger, ids[0], e.Message.ReplaceLineEndings(" "));
                return;
            }

            await WriteIsolatingAsync(ids[..(ids.Length / 2)], taken, shard, cancellationToken);
            await WriteIsolatingAsync(ids[(ids.Length / 2)..], taken, shard, cancellationToken);
            return;
        }

        KeepForNextPeriod([.. ids.Where(id => !written.Contains(id))], taken);
    }

    /// <summary>
    /// Locks the rows of <paramref name="ids"/> that no other transaction holds, then moves them in one statement; the
    /// ids whose rows it held (the others were locked elsewhere and are kept for the next period).
    /// </summary>
    private async Task<HashSet<long>> WriteRowsAsync(long[] ids, Dictionary<long, Dirty> taken, int shard, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(WriteTimeout);
        await using var connection = await db.OpenConnectionAsync(timeout.Token);
        await using var transaction = await connection.BeginTransactionAsync(timeout.Token);
        // From a few thousand sensors on, the planner's estimate of the move reaches jit_above_cost, and compiling it
        // would cost more than running it: half a second at 10,000 (docs/database.md).
        await Jit.OffForTransactionAsync(connection, transaction, timeout.Token);

        // Locked before the statement that moves them, not within it: a statement reads the heartbeat rows as of its
        // start, so an import that committed between that start and the lock would be half seen (its checkpoint
        // without the rows under it). Each statement here starts after the locks it relies on.
        var held = new List<(long Id, DateTimeOffset? Before)>(ids.Length);
        await using (var lockRows = new NpgsqlCommand(LockStatement, connection, transaction))
        {
            lockRows.Parameters.AddWithValue(ids);
            await using var reader = await lockRows.ExecuteReaderAsync(timeout.Token);
            while (await reader.ReadAsync(timeout.Token))
            {
                held.Add((reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<DateTimeOffset>(1)));
            }
        }

        if (held.Count > 0)
        {
            var rows = held.Select(row => taken[row.Id]).ToArray();
            await using var move = new NpgsqlCommand(MoveStatement, connection, transaction);
            move.Parameters.AddWithValue(held.Select(row => row.Id).ToArray());
            move.Parameters.AddWithValue(held.Select(row => row.Before).ToArray());
            move.Parameters.AddWithValue(rows.Select(dirty => dirty.After ?? dirty.Last).ToArray());
            move.Parameters.AddWithValue(rows.Select(dirty => dirty.After is null).ToArray());
            move.Parameters.AddWithValue(rows.Select(dirty => dirty.Count).ToArray());
            move.Parameters.AddWithValue(rows.Select(dirty => dirty.Last).ToArray());
            move.Parameters.AddWithValue(shard);
            await move.ExecuteNonQueryAsync(timeout.Token);
        }

        await transaction.CommitAsync(timeout.Token);

        _writes.Add(1);
        return [.. held.Select(row => row.Id)];
    }

    private void KeepForNextPeriod(IEnumerable<long> ids, Dictionary<long, Dirty> taken)
    {
        lock (_gate)
        {
            foreach (var sensorId in ids)
            {
                var dirty = taken[sensorId];
                // Whatever was noted since is newer; whether the two are contiguous is not known, so the rows are counted.
                _dirty[sensorId] = _dirty.TryGetValue(sensorId, out var newer)
                    ? new Dirty(dirty.After, Recount, newer.Last > dirty.Last ? newer.Last : dirty.Last)
                    : dirty;
            }
        }
    }

    /// <summary>
    /// The rows of the noted sensors that no other transaction holds, locked in id order, with their checkpoints. NO KEY
    /// UPDATE, as the move itself takes: the foreign-key check of an alert's insert (KEY SHARE) need not wait for it.
    /// </summary>
    private const string LockStatement =
        "SELECT id, last_heartbeat_at FROM sensor WHERE id = ANY ($1) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED";

    /// <summary>
    /// Moves each locked sensor's checkpoint (<c>before</c>, as the lock read it) to its noted last heartbeat, never
    /// back. When the row still holds the checkpoint the note counted from, the note's count is added; else (a lost or
    /// overtaken checkpoint) the heartbeat rows between the row's checkpoint and the note's last are counted, so
    /// nothing counts twice or not at all. The intervals between the two checkpoints are counted from the rows either
    /// way (<see cref="HeartbeatIntervals.CountPassedSql"/>).
    /// </summary>
    private static readonly string MoveStatement = $"""
        WITH moved AS (
            UPDATE sensor AS s
            SET heartbeat_count = s.heartbeat_count
                    + CASE WHEN b.n >= 0 AND s.last_heartbeat_at IS NOT DISTINCT FROM CASE WHEN b.from_start THEN NULL ELSE b.after END
                           THEN b.n
                           ELSE (SELECT count(*) FROM heartbeat h
                                 WHERE h.sensor_id = s.id
                                   AND h.received_at > coalesce(s.last_heartbeat_at, '-infinity')
                                   AND h.received_at <= b.last_at) END,
                first_heartbeat_at = coalesce(s.first_heartbeat_at,
                    (SELECT min(h.received_at) FROM heartbeat h WHERE h.sensor_id = s.id AND h.received_at <= b.last_at)),
                last_heartbeat_at = b.last_at
            FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::boolean[], $5::bigint[], $6::timestamptz[])
                AS b (sensor_id, before_at, after, from_start, n, last_at)
            WHERE s.id = b.sensor_id
              AND (s.last_heartbeat_at IS NULL OR s.last_heartbeat_at < b.last_at)
            RETURNING s.id AS sensor_id, b.before_at AS after_at, b.last_at AS upto)
        {HeartbeatIntervals.CountPassedSql("$7", "1", "moved")}
        """;

    private readonly record struct Dirty(DateTimeOffset? After, long Count, DateTimeOffset Last);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the sensors' heartbeat checkpoint, the next period tries again: {Reason}")]
    private static partial void LogWriteFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Folded {Rows} rows of other silos' interval-histogram shards into the import shard")]
    private static partial void LogFolded(ILogger logger, int rows);

    [LoggerMessage(Level = LogLevel.Information, Message = "Another transaction held a row of the interval histogram's import shard; its old shards are folded next period")]
    private static partial void LogFoldDeferred(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not fold the interval histogram's old shards, the next period tries again: {Reason}")]
    private static partial void LogFoldFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The heartbeat checkpoint of sensor row {SensorId} was refused and dropped (readers count its heartbeat rows instead): {Reason}")]
    private static partial void LogRowRefused(ILogger logger, long sensorId, string reason);
}
