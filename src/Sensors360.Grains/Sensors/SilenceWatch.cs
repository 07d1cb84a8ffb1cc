using Microsoft.Extensions.Logging;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// One sensor grain's watch for silence: an in-memory timer armed for the moment the sensor becomes
/// silent, backed by the <see cref="SilenceReminder"/> that survives the silo. The reminder is written
/// only on transitions (registered when the sensor comes online, removed when it goes silent or
/// retires), so steady heartbeats cost neither a reminder write nor timer churn.
/// </summary>
internal sealed partial class SilenceWatch(IGrainBase grain, TimeProvider clock, TimeSpan checkPeriod, Action onDue, ILogger logger) : IDisposable
{
    private ITimer? _timer;
    private DateTimeOffset? _due;
    // Null until this activation has checked; then whether the reminder is known to exist.
    private bool? _reminderRegistered;

    /// <summary>False only when the reminder is known not to exist.</summary>
    public bool ReminderMayExist => _reminderRegistered != false;

    /// <summary>
    /// Wakes the grain at <paramref name="due"/>. Unless <paramref name="force"/>, an earlier wake-up
    /// already set is left alone: it re-arms itself when it finds the sensor still fresh.
    /// </summary>
    public void Arm(DateTimeOffset due, bool force = false)
    {
        if (_due is not null && !force)
        {
            return;
        }

        var now = clock.GetUtcNow();
        // The callback runs outside the grain's turn; onDue must come back in through a grain call.
        _timer ??= clock.CreateTimer(_ => onDue(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _timer.Change(due > now ? due - now : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        _due = due;
    }

    public void Disarm()
    {
        _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _due = null;
    }

    /// <summary>Makes sure the reminder exists; free once it is known to (the heartbeat path calls this every time).</summary>
    public Task EnsureReminderAsync() => _reminderRegistered == true ? Task.CompletedTask : RegisterReminderAsync();

    /// <summary>Reads before writing, so a re-activation costs no write.</summary>
    private async Task RegisterReminderAsync()
    {
        try
        {
            if (_reminderRegistered is null && await grain.GetReminder(SilenceReminder.Name) is not null)
            {
                _reminderRegistered = true;
                return;
            }

            await grain.RegisterOrUpdateReminder(SilenceReminder.Name, checkPeriod, checkPeriod);
            _reminderRegistered = true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The timer still watches while the silo lives; the next heartbeat tries the reminder again.
            _reminderRegistered = false;
            LogReminderFailed(logger, Sensor, "register", e.Message);
        }
    }

    public async Task RemoveReminderAsync()
    {
        try
        {
            if (await grain.GetReminder(SilenceReminder.Name) is { } reminder)
            {
                await grain.UnregisterReminder(reminder);
            }

            _reminderRegistered = false;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Harmless: a stray tick finds the sensor not online and tries again.
            LogReminderFailed(logger, Sensor, "unregister", e.Message);
        }
    }

    public void Dispose() => _timer?.Dispose();

    private string Sensor => grain.GrainContext.GrainId.Key.ToString()!;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sensor {Sensor}: could not {Action} its silence reminder: {Reason}")]
    private static partial void LogReminderFailed(ILogger logger, string sensor, string action, string reason);
}
