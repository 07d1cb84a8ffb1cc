using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using Sensors360.Grains.Alerts;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// One heartbeat to store; <paramref name="Interval"/> is the time since the sensor's previous one (null for
/// its first), <paramref name="ResolveAlertId"/> closes the sensor's silence alert in the same transaction.
/// <paramref name="ResolveAnyOpenAlert"/>: the grain may not know of every open alert of its sensor (its first
/// heartbeat since it activated, which may have read the sensor just before the silence sweep's bulk raise
/// committed); the write then waits for such a raise and resolves whatever alert is open.
/// </summary>
public sealed record HeartbeatRecord(
    long SensorId, DateTimeOffset ReceivedAt, TimeSpan? Interval, string? MetricsJson, long? ResolveAlertId, bool ResolveAnyOpenAlert = false);

/// <summary>The database could not take the write; nothing from the batch was stored.</summary>
public sealed class HeartbeatLogUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The silo's heartbeat writer. Concurrent heartbeats are group-committed: whatever arrived while the
/// previous batch was being written goes into the next one, as one multi-row insert plus the matching
/// alert resolutions (<see cref="AlertStore.ResolveCommand"/>), in one transaction. Each append completes only when its batch has
/// committed, so a caller that gets success knows the heartbeat is durable. The sensors' rows are not
/// touched, nor the interval histogram: each committed heartbeat is noted for the silo's
/// <see cref="SensorCheckpoint"/>, which moves their counters and counts their intervals in bulk.
/// </summary>
public sealed partial class HeartbeatLog : BackgroundService, IHeartbeatWriter
{
    /// <summary>
    /// The server's one meter (every Sensors 360 instrument is on it), here for the heartbeat writer's batch sizes,
    /// stored heartbeats and queue depth; read by OpenTelemetry (<c>/metrics</c>), dotnet-counters and the benchmark.
    /// </summary>
    public const string MeterName = "Sensors360";

    /// <summary>Histogram of <see cref="MeterName"/>: one measurement per committed batch, its size.</summary>
    public const string BatchSizeInstrument = "sensors360.heartbeats.batch_size";

    /// <summary>Counter of <see cref="MeterName"/>: heartbeats committed.</summary>
    public const string StoredInstrument = "sensors360.heartbeats.stored";

    /// <summary>Observable gauge of <see cref="MeterName"/>: heartbeats waiting for a writer, read at each scrape.</summary>
    public const string QueueDepthInstrument = "sensors360.heartbeats.queue_depth";

    private readonly NpgsqlDataSource _db;
    private readonly TimeProvider _time;
    private readonly SensorCheckpoint _checkpoint;
    private readonly ILogger<HeartbeatLog> _logger;
    private readonly WarningPace _batchFailureWarnings;
    private readonly Histogram<int> _batchSizes;
    private readonly Counter<long> _stored;

    public HeartbeatLog(NpgsqlDataSource db, TimeProvider time, SensorCheckpoint checkpoint, ILogger<HeartbeatLog> logger, IMeterFactory meters)
    {
        _db = db;
        _time = time;
        _batchFailureWarnings = new WarningPace(WarningPace.Every, time);
        _checkpoint = checkpoint;
        _logger = logger;
        var meter = meters.Create(MeterName);
        _batchSizes = meter.CreateHistogram<int>(BatchSizeInstrument, "{heartbeat}", "Heartbeats per committed batch");
        _stored = meter.CreateCounter<long>(StoredInstrument, "{heartbeat}", "Heartbeats committed to the database");
        // Read only when a listener asks (a scrape), so the hot path pays nothing for it.
        meter.CreateObservableGauge(QueueDepthInstrument, () => _queue.Reader.Count, "{heartbeat}", "Heartbeats queued for the database writers");
    }

    private const int MaxBatch = 2_000;

    /// <summary>Writer loops, each holding one connection of the server's pool for as long as it runs (the connection budget counts them).</summary>
    public const int Writers = 4;

    private const int MaxQueued = 50_000;
    private static readonly TimeSpan CommitTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a batch waits for a row another transaction holds (a sensor's row during an import's batch, a
    /// retirement, an operator's open transaction) before giving up on it. Ordinary locks last milliseconds; past
    /// this, the batch is written again without the heartbeats of the locked sensors, which are answered as not
    /// stored, so one held row delays the rest of its batch by this much and fails no one else.
    /// </summary>
    public static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// A writer whose connection has been idle this long pings it before writing a batch on it: a database restart closes
    /// idle connections unseen, and a ping stores nothing, so a dead one is replaced with no doubt about what was stored.
    /// </summary>
    public static readonly TimeSpan IdleCheckAfter = TimeSpan.FromMilliseconds(250);

    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(
        new BoundedChannelOptions(MaxQueued) { SingleReader = false, FullMode = BoundedChannelFullMode.Wait });

    /// <summary>Stores the heartbeat; completes once committed, or throws <see cref="HeartbeatLogUnavailableException"/>.</summary>
    public Task AppendAsync(HeartbeatRecord record)
    {
        var pending = new Pending(record, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        // A full queue means the database has fallen far behind: refuse rather than queue without bound.
        return _queue.Writer.TryWrite(pending)
            ? pending.Done.Task
            : Task.FromException(new HeartbeatLogUnavailableException("The heartbeat queue is full."));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            // Several writers: while one batch waits for its commit to reach the disk, others are already
            // being written, so the wait for fsync no longer bounds throughput (PostgreSQL flushes their
            // commits together). A sensor is never in two batches at once (its grain awaits each
            // heartbeat), so the writers never contend for a row.
            await Task.WhenAll(Enumerable.Range(0, Writers).Select(_ => WriteBatchesAsync(stoppingToken)));
        }
        finally
        {
            // Shutting down: whatever was not committed is reported as not stored, never as stored.
            _queue.Writer.TryComplete();
            var shutdown = new HeartbeatLogUnavailableException("The server is shutting down.");
            while (_queue.Reader.TryRead(out var left))
            {
                left.Done.TrySetException(shutdown);
            }
        }
    }

    private async Task WriteBatchesAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Pending>(MaxBatch);
        var writer = new BatchWriter(_db, _time, _logger);
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                Drain(batch);
                if (batch.Count > 0)
                {
                    await CommitOrFailAsync(writer, batch, stoppingToken);
                    batch.Clear();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            var shutdown = new HeartbeatLogUnavailableException("The server is shutting down.");
            foreach (var pending in batch)
            {
                pending.Done.TrySetException(shutdown);
            }
        }
        finally
        {
            await writer.DisposeAsync();
        }
    }

    private void Drain(List<Pending> batch)
    {
        while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var next))
        {
            batch.Add(next);
        }
    }

    private async Task CommitOrFailAsync(BatchWriter writer, List<Pending> batch, CancellationToken stoppingToken)
    {
        try
        {
            await WithCommitTimeoutAsync(cancellationToken => CommitAsync(writer, batch, cancellationToken), stoppingToken);
        }
        catch (PostgresException e) when (IsOwnRowsFault(e))
        {
            // One row the database would not take fails the whole statement; the others must not fail with it.
            LogBatchIsolating(_logger, batch.Count, e.Message.ReplaceLineEndings(" "));
            await CommitIsolatingAsync(writer, batch, stoppingToken);
            return;
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            await FailAsync(writer, batch, e);
            return;
        }

        Stored(batch);
    }

    /// <summary>
    /// Writes <paramref name="rows"/> without the ones that failed their batch: heartbeats of sensors whose row another
    /// transaction holds are left out at once (their rows are locked with <c>SKIP LOCKED</c>, in the same transaction
    /// as the write, so none can be taken meanwhile) and answered as not stored; a row the database refuses for any
    /// other reason is found by halving, and only it is answered as not stored.
    /// </summary>
    private async Task CommitIsolatingAsync(BatchWriter writer, List<Pending> rows, CancellationToken stoppingToken)
    {
        (List<Pending> Written, List<Pending> LockedOut) outcome;
        try
        {
            outcome = await WithCommitTimeoutAsync(cancellationToken => CommitSkippingLockedAsync(writer, rows, cancellationToken), stoppingToken);
        }
        catch (PostgresException e) when (IsOwnRowsFault(e))
        {
            if (rows.Count == 1)
            {
                LogHeartbeatRefused(_logger, rows[0].Record.SensorId, e.Message.ReplaceLineEndings(" "));
                rows[0].Done.TrySetException(new HeartbeatLogUnavailableException($"The database refused the heartbeat: {e.MessageText}", e));
                return;
            }

            var half = rows.Count / 2;
            await CommitIsolatingAsync(writer, rows[..half], stoppingToken);
            await CommitIsolatingAsync(writer, rows[half..], stoppingToken);
            return;
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            await FailAsync(writer, rows, e);
            return;
        }

        if (outcome.LockedOut.Count > 0)
        {
            LogSensorsLocked(_logger, outcome.LockedOut.Count);
            var locked = new HeartbeatLogUnavailableException("Another transaction holds the sensor's row; the heartbeat was not stored.");
            foreach (var pending in outcome.LockedOut)
            {
                pending.Done.TrySetException(locked);
            }
        }

        Stored(outcome.Written);
    }

    /// <summary>
    /// In one transaction: locks the rows of the batch's sensors that no one else holds, writes the heartbeats of
    /// those sensors, commits. Returns the heartbeats written and those left out.
    /// </summary>
    private static Task<(List<Pending> Written, List<Pending> LockedOut)> CommitSkippingLockedAsync(BatchWriter writer, List<Pending> rows, CancellationToken cancellationToken) =>
        writer.WriteAsync(connection => WriteSkippingLockedAsync(connection, rows, cancellationToken), cancellationToken);

    private static async Task<(List<Pending> Written, List<Pending> LockedOut)> WriteSkippingLockedAsync(NpgsqlConnection connection, List<Pending> rows, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var free = new HashSet<long>();
        await using (var lockFree = new NpgsqlCommand("SELECT id FROM sensor WHERE id = ANY ($1) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED", connection, transaction))
        {
            lockFree.Parameters.Add(new NpgsqlParameter { Value = rows.Select(pending => pending.Record.SensorId).Distinct().ToArray() });
            await using var reader = await lockFree.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                free.Add(reader.GetInt64(0));
            }
        }

        var writable = rows.Where(pending => free.Contains(pending.Record.SensorId)).ToList();
        if (writable.Count > 0)
        {
            await using var write = connection.CreateBatch();
            AddWriteCommands(write, writable);
            await write.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return (writable, [.. rows.Where(pending => !free.Contains(pending.Record.SensorId))]);
    }

    private static async Task<T> WithCommitTimeoutAsync<T>(Func<CancellationToken, Task<T>> attempt, CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(CommitTimeout);
        return await attempt(timeout.Token);
    }

    /// <summary>
    /// Faults of some rows rather than of the database: a row locked past <see cref="LockTimeout"/> (or a deadlock),
    /// a value or constraint the row breaks. The connection stays usable; the rows are written again without them.
    /// </summary>
    private static bool IsOwnRowsFault(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected
        || e.SqlState.StartsWith("22", StringComparison.Ordinal) // data exception
        || e.SqlState.StartsWith("23", StringComparison.Ordinal); // integrity constraint violation

    private static bool IsUnavailable(Exception e) =>
        e is NpgsqlException or TimeoutException or OperationCanceledException or InvalidOperationException;

    private async Task FailAsync(BatchWriter writer, List<Pending> rows, Exception e)
    {
        await writer.ResetAsync();
        // In an outage every batch fails the same way: one warning every few seconds says it.
        var reason = e.Message.ReplaceLineEndings(" ");
        if (_batchFailureWarnings.TakeTurn())
        {
            LogBatchFailed(_logger, rows.Count, reason);
        }
        else
        {
            LogBatchFailedAgain(_logger, rows.Count, reason);
        }

        var unavailable = new HeartbeatLogUnavailableException("The database could not store the heartbeats.", e);
        foreach (var pending in rows)
        {
            pending.Done.TrySetException(unavailable);
        }
    }

    private void Stored(List<Pending> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }

        _batchSizes.Record(rows.Count);
        _stored.Add(rows.Count);
        // Committed: the sensors' counters move with the silo's next checkpoint, noted for the batch at once.
        _checkpoint.NoteStored([.. rows.Select(pending => pending.Record)]);
        foreach (var pending in rows)
        {
            pending.Done.TrySetResult();
        }
    }

    /// <summary>
    /// Writes a batch in one round trip: the inserts and the alert resolutions go
    /// to PostgreSQL as one batch of statements, which it runs as one implicit transaction. Measured
    /// against binary COPY (docs/performance.md): with the small batches a busy server actually forms,
    /// the round trips around a COPY (start, finish, then the updates, then COMMIT) cost more than COPY saves.
    /// </summary>
    private static Task<int> CommitAsync(BatchWriter writer, List<Pending> batch, CancellationToken cancellationToken) =>
        writer.WriteAsync(
            async connection =>
            {
                await using var write = connection.CreateBatch();
                AddWriteCommands(write, batch);
                return await write.ExecuteNonQueryAsync(cancellationToken);
            },
            cancellationToken);

    /// <summary>The statements that store <paramref name="batch"/>: heartbeats and alert resolutions.</summary>
    private static void AddWriteCommands(NpgsqlBatch write, List<Pending> batch)
    {
        // First, so the statements after it see an alert the sweep's bulk raise committed while this batch waited.
        var unseen = batch.Where(pending => pending.Record.ResolveAnyOpenAlert).Select(pending => pending.Record).ToList();
        if (unseen.Count > 0)
        {
            write.BatchCommands.Add(AlertStore.LockSensorsCommand([.. unseen.Select(record => record.SensorId)]));
        }

        var sensorIds = new long[batch.Count];
        var receivedAt = new DateTimeOffset[batch.Count];
        var metrics = new string?[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var record = batch[i].Record;
            sensorIds[i] = record.SensorId;
            receivedAt[i] = record.ReceivedAt;
            metrics[i] = record.MetricsJson;
        }

        write.BatchCommands.Add(Command(
            "INSERT INTO heartbeat (sensor_id, received_at, metrics) SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::jsonb[])",
            new NpgsqlParameter { Value = sensorIds },
            new NpgsqlParameter { Value = receivedAt },
            new NpgsqlParameter { Value = metrics, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb }));

        // No UPDATE sensor and no interval count: once this commits, each heartbeat is noted for the silo's
        // SensorCheckpoint, which writes the counters of all the sensors that beat, and counts their intervals, in one
        // statement per checkpoint period.

        var resolutions = batch.Where(pending => pending.Record.ResolveAlertId is not null).ToList();
        if (resolutions.Count > 0)
        {
            write.BatchCommands.Add(AlertStore.ResolveCommand(
                [.. resolutions.Select(pending => pending.Record.ResolveAlertId!.Value)],
                [.. resolutions.Select(pending => pending.Record.ReceivedAt)]));
        }

        if (unseen.Count > 0)
        {
            write.BatchCommands.Add(AlertStore.ResolveOpenOfSensorsCommand(
                [.. unseen.Select(record => record.SensorId)], [.. unseen.Select(record => record.ReceivedAt)]));
        }
    }

    private static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not store a batch of {Count} heartbeats (other batches' failures in the next 10 s are logged at Debug): {Reason}")]
    private static partial void LogBatchFailed(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not store a batch of {Count} heartbeats: {Reason}")]
    private static partial void LogBatchFailedAgain(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch of {Count} heartbeats failed for some of its rows, storing the others without them: {Reason}")]
    private static partial void LogBatchIsolating(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} heartbeats not stored: another transaction holds their sensors' rows")]
    private static partial void LogSensorsLocked(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A heartbeat of sensor row {SensorId} not stored: the database refused it: {Reason}")]
    private static partial void LogHeartbeatRefused(ILogger logger, long sensorId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "A heartbeat writer's idle connection did not answer ({Reason}); opening a new one")]
    private static partial void LogIdleConnectionLost(ILogger logger, string reason);

    private readonly record struct Pending(HeartbeatRecord Record, TaskCompletionSource Done);

    /// <summary>
    /// A writer's own connection, kept open between batches: returning it to the pool after every batch
    /// would cost a session reset (DISCARD ALL) per batch. Dropped after a failure and opened again, and
    /// pinged before use once idle for <see cref="IdleCheckAfter"/> since its last batch ended.
    /// </summary>
    private sealed class BatchWriter(NpgsqlDataSource db, TimeProvider time, ILogger logger) : IAsyncDisposable
    {
        private NpgsqlConnection? _connection;
        private long _lastUsed;

        /// <summary>Runs <paramref name="write"/> on the writer's connection; its idle time starts when the write ends.</summary>
        public async Task<T> WriteAsync<T>(Func<NpgsqlConnection, Task<T>> write, CancellationToken cancellationToken)
        {
            var connection = await OpenAsync(cancellationToken);
            try
            {
                return await write(connection);
            }
            finally
            {
                MarkUsed();
            }
        }

        /// <summary>The writer's connection, opened (with the writer's <see cref="LockTimeout"/>) if it is not.</summary>
        private async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
        {
            if (_connection is not null && time.GetElapsedTime(_lastUsed) >= IdleCheckAfter)
            {
                await DropIfClosedAsync(_connection, cancellationToken);
            }

            if (_connection is null)
            {
                var connection = await db.OpenConnectionAsync(cancellationToken);
                try
                {
                    // For this session only: the pool resets it when the connection goes back after a failure.
                    await using var setLockTimeout = new NpgsqlCommand("SELECT set_config('lock_timeout', $1, false)", connection);
                    setLockTimeout.Parameters.AddWithValue($"{(int)LockTimeout.TotalMilliseconds}ms");
                    await setLockTimeout.ExecuteNonQueryAsync(cancellationToken);
                }
                catch
                {
                    await connection.DisposeAsync();
                    throw;
                }

                _connection = connection;
                MarkUsed();
            }

            return _connection;
        }

        /// <summary>Notes that the connection has just answered: its idle time starts now.</summary>
        private void MarkUsed() => _lastUsed = time.GetTimestamp();

        private async Task DropIfClosedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
        {
            try
            {
                await using var ping = new NpgsqlCommand("SELECT 1", connection);
                await ping.ExecuteScalarAsync(cancellationToken);
            }
            catch (Exception e) when (IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
            {
                var reason = e.Message.ReplaceLineEndings(" ");
                LogIdleConnectionLost(logger, reason);
                await ResetAsync();
            }
        }

        public async Task ResetAsync()
        {
            if (_connection is not null)
            {
                await _connection.DisposeAsync();
                _connection = null;
            }
        }

        public ValueTask DisposeAsync() => new(ResetAsync());
    }
}
