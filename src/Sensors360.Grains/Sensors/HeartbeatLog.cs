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
/// </summary>
public sealed record HeartbeatRecord(long SensorId, DateTimeOffset ReceivedAt, TimeSpan? Interval, string? MetricsJson, long? ResolveAlertId);

/// <summary>The database could not take the write; nothing from the batch was stored.</summary>
public sealed class HeartbeatLogUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The silo's heartbeat writer. Concurrent heartbeats are group-committed: whatever arrived while the
/// previous batch was being written goes into the next one, as one multi-row insert plus the matching
/// <c>sensor</c> counters, alert resolutions (<see cref="AlertStore.ResolveCommand"/>) and interval
/// counts (<see cref="HeartbeatIntervals"/>), in one
/// transaction. Each append completes only when its batch has committed, so a caller that gets success
/// knows the heartbeat is durable.
/// </summary>
public sealed partial class HeartbeatLog : BackgroundService, IHeartbeatWriter
{
    /// <summary>The meter of the heartbeat writer (batch sizes, stored heartbeats), for OpenTelemetry, dotnet-counters and the benchmark.</summary>
    public const string MeterName = "Sensors360.Heartbeats";

    /// <summary>Histogram of <see cref="MeterName"/>: one measurement per committed batch, its size.</summary>
    public const string BatchSizeInstrument = "sensors360.heartbeats.batch_size";

    /// <summary>Counter of <see cref="MeterName"/>: heartbeats committed.</summary>
    public const string StoredInstrument = "sensors360.heartbeats.stored";

    private readonly NpgsqlDataSource _db;
    private readonly ILogger<HeartbeatLog> _logger;
    private readonly Histogram<int> _batchSizes;
    private readonly Counter<long> _stored;

    public HeartbeatLog(NpgsqlDataSource db, ILogger<HeartbeatLog> logger, IMeterFactory meters)
    {
        _db = db;
        _logger = logger;
        var meter = meters.Create(MeterName);
        _batchSizes = meter.CreateHistogram<int>(BatchSizeInstrument, "{heartbeat}", "Heartbeats per committed batch");
        _stored = meter.CreateCounter<long>(StoredInstrument, "{heartbeat}", "Heartbeats committed to the database");
    }

    private const int MaxBatch = 2_000;

    /// <summary>Writer loops, each holding one connection of the server's pool for as long as it runs (the connection budget counts them).</summary>
    public const int Writers = 4;

    private const int MaxQueued = 50_000;
    private static readonly TimeSpan CommitTimeout = TimeSpan.FromSeconds(10);

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
        var writer = new BatchWriter(_db);
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
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(CommitTimeout);
        try
        {
            await CommitAsync(writer, batch, timeout.Token);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException or InvalidOperationException)
        {
            await writer.ResetAsync();
            var reason = e.Message.ReplaceLineEndings(" ");
            LogBatchFailed(_logger, batch.Count, reason);
            var unavailable = new HeartbeatLogUnavailableException("The database could not store the heartbeats.", e);
            foreach (var pending in batch)
            {
                pending.Done.TrySetException(unavailable);
            }

            return;
        }

        _batchSizes.Record(batch.Count);
        _stored.Add(batch.Count);
        foreach (var pending in batch)
        {
            pending.Done.TrySetResult();
        }
    }

    /// <summary>
    /// Writes a batch in one round trip: the inserts, the sensors' counters and the alert resolutions go
    /// to PostgreSQL as one batch of statements, which it runs as one implicit transaction. Measured
    /// against binary COPY (docs/performance.md): with the small batches a busy server actually forms,
    /// the round trips around a COPY (start, finish, then the updates, then COMMIT) cost more than COPY saves.
    /// </summary>
    private static async Task CommitAsync(BatchWriter writer, List<Pending> batch, CancellationToken cancellationToken)
    {
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

        await using var write = await writer.CreateBatchAsync(cancellationToken);
        write.BatchCommands.Add(Command(
            "INSERT INTO heartbeat (sensor_id, received_at, metrics) SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::jsonb[])",
            new NpgsqlParameter { Value = sensorIds },
            new NpgsqlParameter { Value = receivedAt },
            new NpgsqlParameter { Value = metrics, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb }));

        // A sensor is in a batch at most once while its grain awaits each heartbeat; grouping keeps the
        // update right even if that ever changes.
        var perSensor = batch
            .GroupBy(pending => pending.Record.SensorId)
            .Select(group => (
                SensorId: group.Key,
                First: group.Min(pending => pending.Record.ReceivedAt),
                Last: group.Max(pending => pending.Record.ReceivedAt),
                Count: (long)group.Count()))
            .ToList();
        write.BatchCommands.Add(Command("""
            UPDATE sensor AS s
            SET first_heartbeat_at = coalesce(s.first_heartbeat_at, b.first_at),
                last_heartbeat_at = greatest(s.last_heartbeat_at, b.last_at),
                heartbeat_count = s.heartbeat_count + b.n
            FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::bigint[]) AS b (sensor_id, first_at, last_at, n)
            WHERE s.id = b.sensor_id AND s.id = ANY ($1)
            """,
            new NpgsqlParameter { Value = perSensor.Select(sensor => sensor.SensorId).ToArray() },
            new NpgsqlParameter { Value = perSensor.Select(sensor => sensor.First).ToArray() },
            new NpgsqlParameter { Value = perSensor.Select(sensor => sensor.Last).ToArray() },
            new NpgsqlParameter { Value = perSensor.Select(sensor => sensor.Count).ToArray() }));

        var resolutions = batch.Where(pending => pending.Record.ResolveAlertId is not null).ToList();
        if (resolutions.Count > 0)
        {
            write.BatchCommands.Add(AlertStore.ResolveCommand(
                [.. resolutions.Select(pending => pending.Record.ResolveAlertId!.Value)],
                [.. resolutions.Select(pending => pending.Record.ReceivedAt)]));
        }

        var intervals = batch.Where(pending => pending.Record.Interval is not null).Select(pending => pending.Record.Interval!.Value.TotalSeconds).ToArray();
        if (intervals.Length > 0)
        {
            write.BatchCommands.Add(HeartbeatIntervals.CountCommand(writer.Shard, intervals));
        }

        await write.ExecuteNonQueryAsync(cancellationToken);
    }

    private static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not store a batch of {Count} heartbeats: {Reason}")]
    private static partial void LogBatchFailed(ILogger logger, int count, string reason);

    private readonly record struct Pending(HeartbeatRecord Record, TaskCompletionSource Done);

    /// <summary>
    /// A writer's own connection, kept open between batches: returning it to the pool after every batch
    /// would cost a session reset (DISCARD ALL) per batch. Dropped after a failure and opened again.
    /// </summary>
    private sealed class BatchWriter(NpgsqlDataSource db) : IAsyncDisposable
    {
        private NpgsqlConnection? _connection;

        /// <summary>This writer's own rows of the interval histogram, so no other writer waits on them.</summary>
        public int Shard { get; } = HeartbeatIntervals.NewShard();

        public async Task<NpgsqlBatch> CreateBatchAsync(CancellationToken cancellationToken)
        {
            _connection ??= await db.OpenConnectionAsync(cancellationToken);
            return _connection.CreateBatch();
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
