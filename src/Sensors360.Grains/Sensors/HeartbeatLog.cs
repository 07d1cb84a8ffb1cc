using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Sensors360.Grains.Sensors;

/// <summary>One heartbeat to store; <paramref name="ResolveAlertId"/> closes the sensor's silence alert in the same transaction.</summary>
public sealed record HeartbeatRecord(long SensorId, DateTimeOffset ReceivedAt, string? MetricsJson, long? ResolveAlertId);

/// <summary>The database could not take the write; nothing from the batch was stored.</summary>
public sealed class HeartbeatLogUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The silo's heartbeat writer. Concurrent heartbeats are group-committed: whatever arrived while the
/// previous batch was being written goes into the next one, as one binary COPY plus the matching
/// <c>sensor</c> counters and alert resolutions, in one transaction. Each append completes only when its
/// batch has committed, so a caller that gets success knows the heartbeat is durable.
/// </summary>
public sealed partial class HeartbeatLog(NpgsqlDataSource db, ILogger<HeartbeatLog> logger) : BackgroundService
{
    private const int MaxBatch = 2_000;
    private const int Writers = 2;
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
            // Two writers: while one batch waits for its commit to reach the disk, the next is already
            // being copied, so the wait for fsync no longer bounds throughput. A sensor is never in two
            // batches at once (its grain awaits each heartbeat), so the writers never contend for a row.
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
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var next))
                {
                    batch.Add(next);
                }

                if (batch.Count > 0)
                {
                    await CommitOrFailAsync(batch, stoppingToken);
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
    }

    private async Task CommitOrFailAsync(List<Pending> batch, CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(CommitTimeout);
        try
        {
            await CommitAsync(batch, timeout.Token);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException or InvalidOperationException)
        {
            var reason = e.Message.ReplaceLineEndings(" ");
            LogBatchFailed(logger, batch.Count, reason);
            var unavailable = new HeartbeatLogUnavailableException("The database could not store the heartbeats.", e);
            foreach (var pending in batch)
            {
                pending.Done.TrySetException(unavailable);
            }

            return;
        }

        foreach (var pending in batch)
        {
            pending.Done.TrySetResult();
        }
    }

    private async Task CommitAsync(List<Pending> batch, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        await using (var copy = await connection.BeginBinaryImportAsync(
            "COPY heartbeat (sensor_id, received_at, metrics) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            // Synchronous writes: they fill Npgsql's buffer and only touch the socket when it is full,
            // so per-field async calls would cost more than they save.
            foreach (var (record, _) in batch)
            {
                copy.StartRow();
                copy.Write(record.SensorId, NpgsqlDbType.Bigint);
                copy.Write(record.ReceivedAt, NpgsqlDbType.TimestampTz);
                if (record.MetricsJson is null)
                {
                    copy.WriteNull();
                }
                else
                {
                    copy.Write(record.MetricsJson, NpgsqlDbType.Jsonb);
                }
            }

            await copy.CompleteAsync(cancellationToken);
        }

        var perSensor = batch
            .GroupBy(pending => pending.Record.SensorId)
            .Select(group => (
                SensorId: group.Key,
                First: group.Min(pending => pending.Record.ReceivedAt),
                Last: group.Max(pending => pending.Record.ReceivedAt),
                Count: (long)group.Count()))
            .ToList();
        await using (var counters = new NpgsqlCommand("""
            UPDATE sensor AS s
            SET first_heartbeat_at = coalesce(s.first_heartbeat_at, b.first_at),
                last_heartbeat_at = greatest(s.last_heartbeat_at, b.last_at),
                heartbeat_count = s.heartbeat_count + b.n
            FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::bigint[]) AS b (sensor_id, first_at, last_at, n)
            WHERE s.id = b.sensor_id
            """, connection, transaction))
        {
            counters.Parameters.AddWithValue(perSensor.Select(sensor => sensor.SensorId).ToArray());
            counters.Parameters.AddWithValue(perSensor.Select(sensor => sensor.First).ToArray());
            counters.Parameters.AddWithValue(perSensor.Select(sensor => sensor.Last).ToArray());
            counters.Parameters.AddWithValue(perSensor.Select(sensor => sensor.Count).ToArray());
            await counters.ExecuteNonQueryAsync(cancellationToken);
        }

        var resolutions = batch.Where(pending => pending.Record.ResolveAlertId is not null).ToList();
        if (resolutions.Count > 0)
        {
            await using var resolve = new NpgsqlCommand("""
                UPDATE alert AS a SET resolved_at = greatest(b.at, a.raised_at)
                FROM unnest($1::bigint[], $2::timestamptz[]) AS b (id, at)
                WHERE a.id = b.id AND a.resolved_at IS NULL
                """, connection, transaction);
            resolve.Parameters.AddWithValue(resolutions.Select(pending => pending.Record.ResolveAlertId!.Value).ToArray());
            resolve.Parameters.AddWithValue(resolutions.Select(pending => pending.Record.ReceivedAt).ToArray());
            await resolve.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not store a batch of {Count} heartbeats: {Reason}")]
    private static partial void LogBatchFailed(ILogger logger, int count, string reason);

    private readonly record struct Pending(HeartbeatRecord Record, TaskCompletionSource Done);
}
