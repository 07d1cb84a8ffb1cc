using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Sensors360.Server.Notifications;

/// <summary>
/// Every silo runs one: fans outbox events out to delivery rows, queues reminders, claims due deliveries under a
/// lease and sends them, recording each attempt. Woken by the trigger's notification, else every
/// <see cref="NotificationOptions.PollEvery"/>. Delivery is at least once: a silo that dies after sending and before
/// recording leaves the row to be sent again when its lease expires, with the same Idempotency-Key.
/// </summary>
internal sealed partial class NotificationDispatcher(
    NotificationOutbox outbox,
    ChannelSender sender,
    NotificationWake wake,
    NotificationMetrics metrics,
    IOptions<NotificationOptions> options,
    TimeProvider time,
    ILogger<NotificationDispatcher> logger) : BackgroundService
{
    private const int ClaimBatch = 16;
    private const int ParallelSends = 8;
    private static readonly TimeSpan ReminderCheckEvery = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RetryAfterDatabaseFailure = TimeSpan.FromSeconds(5);

    // After a wake, a moment for the rest of a burst (a heartbeat batch resolving alerts, a sweep raising them) to
    // commit, so a storm of alerts costs a round per this, not per transaction.
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(100);

    // Alerts whose notification logs are deleted per statement when trimming the history, so no statement holds many
    // rows for long.
    private const int HistoryBatch = 1_000;

    private DateTimeOffset _nextReminderCheck = DateTimeOffset.MinValue;
    private DateTimeOffset _nextHistoryCheck = DateTimeOffset.MinValue;
    // Events deleted by the trim under way, over its rounds, for its one log line.
    private int _historyDeleted;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        while (!stoppingToken.IsCancellationRequested)
        {
            var more = false;
            try
            {
                more = await RunOnceAsync(settings, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                LogDispatchFailed(logger, e.Message.ReplaceLineEndings(" "));
                try
                {
                    await Task.Delay(RetryAfterDatabaseFailure, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            if (!more)
            {
                await wake.WaitAsync(settings.PollEvery, time, stoppingToken);
                try
                {
                    await Task.Delay(Settle, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>One round; true when a batch was full, so there may be more to do at once.</summary>
    internal async Task<bool> RunOnceAsync(NotificationOptions settings, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now >= _nextReminderCheck)
        {
            _nextReminderCheck = now + ReminderCheckEvery;
            await outbox.QueueRemindersAsync(now, cancellationToken);
        }

        while (await outbox.FanOutAsync(time.GetUtcNow(), cancellationToken) > 0)
        {
        }

        var claim = Guid.NewGuid();
        var due = await outbox.ClaimAsync(time.GetUtcNow(), settings.ClaimLease, claim, ClaimBatch, cancellationToken);
        await Parallel.ForEachAsync(
            due,
            new ParallelOptions { MaxDegreeOfParallelism = ParallelSends, CancellationToken = cancellationToken },
            async (delivery, token) => await DeliverAsync(delivery, claim, settings, token));
        var historyLeft = now >= _nextHistoryCheck && await TrimHistoryAsync(now, settings, cancellationToken);
        return due.Count == ClaimBatch || historyLeft;
    }

    /// <summary>
    /// Deletes one batch of the outbox's history past <see cref="NotificationOptions.KeepHistoryFor"/>, after the
    /// round's deliveries: a large backlog (the first start with a short setting) is trimmed a batch per round, never
    /// ahead of the alerts waiting to go out. True when the batch was full, so the next round goes on at once.
    /// </summary>
    private async Task<bool> TrimHistoryAsync(DateTimeOffset now, NotificationOptions settings, CancellationToken cancellationToken)
    {
        var before = now - settings.KeepHistoryFor;
        int alerts, deleted;
        try
        {
            (alerts, deleted) = await outbox.DeleteHistoryAsync(before, HistoryBatch, cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            // Only the trim failed: the round's deliveries stand, and the history waits for the next check.
            _nextHistoryCheck = now + settings.HistoryCheckEvery;
            LogHistoryTrimFailed(logger, _historyDeleted, e.Message.ReplaceLineEndings(" "));
            _historyDeleted = 0;
            return false;
        }

        _historyDeleted += deleted;
        if (alerts == HistoryBatch)
        {
            return true;
        }

        _nextHistoryCheck = now + settings.HistoryCheckEvery;
        if (_historyDeleted > 0)
        {
            LogHistoryTrimmed(logger, _historyDeleted, before);
        }

        _historyDeleted = 0;
        return false;
    }

    private async Task DeliverAsync(ClaimedDelivery delivery, Guid claim, NotificationOptions settings, CancellationToken cancellationToken)
    {
        var message = new NotificationMessage(delivery.Event, delivery.Alert, delivery.SensorTags, delivery.At, delivery.IdempotencyKey);
        var error = await sender.SendAsync(delivery.Channel, message, cancellationToken);
        var at = time.GetUtcNow();
        string status;
        DateTimeOffset? next = null;
        if (error is null)
        {
            status = "delivered";
        }
        else if (at - delivery.CreatedAt >= settings.GiveUpAfter)
        {
            status = "gave-up";
            LogGaveUp(logger, delivery.IdempotencyKey, delivery.Channel.Name, delivery.Attempts + 1, error);
        }
        else
        {
            status = "failed";
            next = at + Backoff(delivery.Attempts + 1, settings);
        }

        metrics.Attempted(delivery.Channel.Kind, status);
        // Not cancelled with the silo: an attempt that was made is recorded, or its lease expires and it is sent again.
        await outbox.RecordAsync(delivery.Id, claim, at, status, error, next, CancellationToken.None);
    }

    /// <summary>
    /// The wait after failed attempt <paramref name="attempt"/>: doubling from <see cref="NotificationOptions.FirstRetry"/>
    /// up to <see cref="NotificationOptions.MaxRetryDelay"/>, then a random half to whole of it, so receivers coming back
    /// are not hit by every silo's retries at once.
    /// </summary>
    internal static TimeSpan Backoff(int attempt, NotificationOptions settings)
    {
        var doubled = settings.FirstRetry.TotalSeconds * Math.Pow(2, Math.Min(attempt - 1, 30));
        var capped = Math.Min(doubled, settings.MaxRetryDelay.TotalSeconds);
        var jitter = 0.5 + (RandomNumberGenerator.GetInt32(0, 1001) / 2000.0);
        return TimeSpan.FromSeconds(capped * jitter);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Events} notification events of alerts resolved before {Before:O}, with their delivery log")]
    private static partial void LogHistoryTrimmed(ILogger logger, int events, DateTimeOffset before);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not delete the notification history past KeepHistoryFor ({Events} events deleted before the failure); the next check tries again: {Reason}")]
    private static partial void LogHistoryTrimFailed(ILogger logger, int events, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Notification dispatch failed; retrying: {Reason}")]
    private static partial void LogDispatchFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gave up notification {Key} to channel {Channel} after {Attempts} attempts: {Error}")]
    private static partial void LogGaveUp(ILogger logger, string key, string channel, int attempts, string error);
}
