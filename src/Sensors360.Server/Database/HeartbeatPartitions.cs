using Npgsql;

namespace Sensors360.Server.Database;

/// <summary>
/// Keeps the monthly <c>heartbeat</c> partitions created ahead of time: at start (with the schema) and
/// then once a day, so a server that runs for months never spills into the default partition.
/// </summary>
public sealed partial class HeartbeatPartitions(NpgsqlDataSource db, TimeProvider time, ILogger<HeartbeatPartitions> logger) : BackgroundService
{
    /// <summary>Months of partitions kept ready beyond the current one.</summary>
    public const int MonthsAhead = 2;

    private static readonly TimeSpan CheckEvery = TimeSpan.FromDays(1);

    private PeriodicTimer? _timer;

    /// <summary>Creates the missing partitions for the current month and <see cref="MonthsAhead"/> more.</summary>
    public static async Task EnsureAsync(NpgsqlConnection connection, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Silos doing this at once take turns instead of racing to create the same table.
        await using (var take = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction))
        {
            take.Parameters.AddWithValue(AdvisoryLocks.HeartbeatPartitions);
            await take.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var ensure = new NpgsqlCommand("SELECT ensure_heartbeat_partitions($1, $2)", connection, transaction);
        ensure.Parameters.AddWithValue(now);
        ensure.Parameters.AddWithValue(MonthsAhead);
        await ensure.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // The day counts from start: ExecuteAsync runs later, on the thread pool, and a timer made there
        // would miss whatever time passed before it.
        _timer = new PeriodicTimer(CheckEvery, time);
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = _timer ?? new PeriodicTimer(CheckEvery, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await using var connection = await db.OpenConnectionAsync(stoppingToken);
                    await EnsureAsync(connection, time.GetUtcNow(), stoppingToken);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    // Two months are kept ready, so a missed day is harmless; tomorrow tries again.
                    LogFailed(logger, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not create the coming heartbeat partitions: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
