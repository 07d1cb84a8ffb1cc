using Microsoft.Extensions.Logging;
using Sensors360.Abstractions.Sensors;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// One sensor grain's watch for silence: a wake-up in its silo's <see cref="SilenceSchedule"/>, armed for the
/// moment the sensor becomes silent, and the <see cref="SilenceReminder"/> that survives the silo. The reminder
/// is registered only once the sensor's silence comes within reach (the grain decides when), and removed when it
/// goes silent or retires, so steady heartbeats cost neither a reminder write nor a reminder held in memory.
/// Kept small on purpose: every online sensor holds one.
/// </summary>
internal sealed partial class SilenceWatch(Grain grain, SilenceSchedule silo) : SilenceWakeup(silo), IDisposable
{
    // Let go on dispose, so that an entry left in the schedule does not keep a deactivated grain in memory.
    private Grain? _grain = grain;
    // Null until this activation has checked; then whether the reminder is known to exist.
    private bool? _reminderRegistered;

    // How long the grain's turn waits for the reminder service. A call in flight when the service's silo dies is only
    // failed once the cluster declares that silo dead (tens of seconds), and until then the grain could neither raise
    // its silence nor take a heartbeat; past this, the call counts as failed and is tried again later.
    private static readonly TimeSpan ReminderCallTimeout = TimeSpan.FromSeconds(5);

    /// <summary>False only when the reminder is known not to exist.</summary>
    public bool ReminderMayExist => _reminderRegistered != false;

    /// <summary>True once the reminder is known to exist.</summary>
    public bool ReminderRegistered => _reminderRegistered == true;

    /// <summary>Called by the schedule outside the grain's turn: comes back in through an ordinary grain call.</summary>
    protected internal override void Wake() => _grain?.AsReference<ISensorGrain>().CheckSilence().Ignore();

    /// <summary>
    /// Makes sure the reminder exists, its first tick <paramref name="firstTick"/> from now; free once it is known
    /// to (the heartbeat path of a sensor in reach calls this every time).
    /// </summary>
    public Task EnsureReminderAsync(TimeSpan firstTick) => _reminderRegistered == true ? Task.CompletedTask : RegisterReminderAsync(firstTick);

    /// <summary>Reads before writing, so a re-activation costs no write.</summary>
    private async Task RegisterReminderAsync(TimeSpan firstTick)
    {
        try
        {
            if (_reminderRegistered is null && await Bounded(Owner.GetReminder(SilenceReminder.Name)) is not null)
            {
                _reminderRegistered = true;
                return;
            }

            await Bounded(Owner.RegisterOrUpdateReminder(SilenceReminder.Name, firstTick > TimeSpan.Zero ? firstTick : TimeSpan.Zero, Schedule.CheckPeriod));
            _reminderRegistered = true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The schedule still watches while the silo lives; the next heartbeat or wake-up tries the reminder again.
            // Unknown, not absent: a call given up on (or whose reply was lost) may still have registered it.
            _reminderRegistered = null;
            LogReminderFailed(Schedule.Logger, Sensor, "register", e.Message);
        }
    }

    public async Task RemoveReminderAsync()
    {
        try
        {
            if (await Bounded(Owner.GetReminder(SilenceReminder.Name)) is { } reminder)
            {
                await Bounded(Owner.UnregisterReminder(reminder));
            }

            _reminderRegistered = false;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Harmless: a stray tick finds the sensor not online and tries again. Unknown either way, so the next
            // registration reads before it trusts anything.
            _reminderRegistered = null;
            LogReminderFailed(Schedule.Logger, Sensor, "unregister", e.Message);
        }
    }

    private static Task<T> Bounded<T>(Task<T> call)
    {
        // Observed even when given up on, so a late failure is not an unobserved exception.
        call.Ignore();
        return call.WaitAsync(ReminderCallTimeout);
    }

    private static Task Bounded(Task call)
    {
        call.Ignore();
        return call.WaitAsync(ReminderCallTimeout);
    }

    /// <summary>The grain is gone: its entry in the schedule, if any, is dropped when it comes due.</summary>
    public void Dispose()
    {
        Disarm();
        _grain = null;
    }

    private Grain Owner => _grain ?? throw new ObjectDisposedException(nameof(SilenceWatch));

    private string Sensor => Owner.GrainContext.GrainId.Key.ToString()!;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sensor {Sensor}: could not {Action} its silence reminder: {Reason}")]
    private static partial void LogReminderFailed(ILogger logger, string sensor, string action, string reason);
}
