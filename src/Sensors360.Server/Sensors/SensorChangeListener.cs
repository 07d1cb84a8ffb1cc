using Microsoft.Extensions.Options;
using Npgsql;
using Sensors360.Grains.Maintenance;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Database;
using Sensors360.Server.Notifications;

namespace Sensors360.Server.Sensors;

/// <summary>
/// Listens (PostgreSQL <c>LISTEN</c>, one connection per silo) for the announcement the database sends on commit of
/// every provision and token rotation, whichever silo made it, and has <see cref="HeartbeatGate"/> forget what it
/// remembered about that sensor. While not listening, the gate remembers nothing, so no announcement can be missed.
/// On the same connection it hears maintenance windows change, and has this silo's <see cref="MaintenanceCalendar"/>
/// reload (which also refreshes on its own every half minute, for an announcement missed while not listening), and
/// the notification outbox's announcements, which wake the dispatcher (no connection more).
/// </summary>
internal sealed partial class SensorChangeListener(
    NpgsqlDataSource dataSource, HeartbeatGate gate, MaintenanceCalendar maintenance, NotificationWake notificationWake, TimeProvider time,
    IOptions<DatabaseOptions> options, ILogger<SensorChangeListener> logger) : BackgroundService
{
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(5);

    // This silo's own channel for its probes, so that silos do not hear each other's.
    private readonly string _probeChannel = $"sensors360_listener_{Guid.NewGuid():N}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lost = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(lost, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException or InvalidOperationException)
            {
                LogListenFailed(logger, e.Message.ReplaceLineEndings(" "));
                lost = true;
            }
            finally
            {
                gate.StopRemembering();
            }

            try
            {
                await Task.Delay(RetryEvery, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ListenAsync(bool afterLoss, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var answers = new ProbeAnswers();
        // Cancelled when a probe goes unanswered, which ends the wait below and breaks the connection.
        using var unanswered = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        connection.Notification += (_, notification) =>
        {
            if (notification.Channel == _probeChannel)
            {
                answers.Hear();
            }
            else if (notification.Channel == NotificationOutbox.WakeChannel)
            {
                notificationWake.Signal();
            }
            else if (notification.Channel == MaintenanceStore.ChangeChannel)
            {
                maintenance.ReloadSoon();
            }
            else
            {
                gate.Forget(notification.Payload);
            }
        };
        await using (var listen = new NpgsqlCommand(
            $"LISTEN {SensorStore.ChangeChannel}; LISTEN {NotificationOutbox.WakeChannel}; LISTEN {MaintenanceStore.ChangeChannel}; LISTEN {_probeChannel}", connection))
        {
            await listen.ExecuteNonQueryAsync(cancellationToken);
        }

        // Whatever was announced while not listening is found by this look.
        notificationWake.Signal();

        gate.StartRemembering();
        // After a loss, the warning said so; operators also learn when it is back.
        if (afterLoss)
        {
            LogListeningAgain(logger, _probeChannel);
        }
        else
        {
            LogListening(logger, _probeChannel);
        }

        // The wait has no timeout: Npgsql ends a timed wait by throwing and catching, five exceptions each time, and an
        // idle silo's exception count should stay still. The probe notices a connection that died without a word.
        var probing = ProbeAsync(answers, unanswered);
        try
        {
            while (true)
            {
                await connection.WaitAsync(unanswered.Token);
            }
        }
        catch (Exception e) when (unanswered.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"its own announcement on {_probeChannel} did not come back within {ProbeEvery.TotalSeconds:0.###} s", e);
        }
        finally
        {
            await unanswered.CancelAsync();
            await probing;
        }
    }

    private TimeSpan ProbeEvery => options.Value.ListenerProbeEvery;

    /// <summary>
    /// Every <see cref="ProbeEvery"/>, announces on this silo's probe channel through another connection, and cancels
    /// <paramref name="unanswered"/> when the announcement before has not come back on the listening connection since.
    /// An announcement that cannot be sent judges nothing: the database is then out of reach, so nothing can commit
    /// that the listener would have to hear.
    /// </summary>
    private async Task ProbeAsync(ProbeAnswers answers, CancellationTokenSource unanswered)
    {
        var awaited = 0L;
        try
        {
            while (true)
            {
                await Task.Delay(ProbeEvery, time, unanswered.Token);
                if (awaited > answers.Heard)
                {
                    await unanswered.CancelAsync();
                    return;
                }

                // Counted before it is sent, since its answer may come before the command returns.
                var before = answers.Heard;
                try
                {
                    await using var probe = dataSource.CreateCommand("SELECT pg_notify($1, '')");
                    probe.Parameters.Add(new NpgsqlParameter { Value = _probeChannel });
                    await probe.ExecuteNonQueryAsync(unanswered.Token);
                    awaited = before + 1;
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
                {
                    awaited = 0;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The listening connection failed or the silo stops; either way the probe ends with it.
        }
    }

    /// <summary>How many of this silo's probes have come back on the current listening connection.</summary>
    private sealed class ProbeAnswers
    {
        private long _heard;

        public long Heard => Interlocked.Read(ref _heard);

        public void Hear() => Interlocked.Increment(ref _heard);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not listening for new sensors and token rotations, so refused heartbeats are not remembered; retrying: {Reason}")]
    private static partial void LogListenFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening for new sensors and token rotations, probing on {ProbeChannel}")]
    private static partial void LogListening(ILogger logger, string probeChannel);

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening again for new sensors and token rotations, probing on {ProbeChannel}")]
    private static partial void LogListeningAgain(ILogger logger, string probeChannel);
}
