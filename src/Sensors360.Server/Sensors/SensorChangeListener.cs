using Npgsql;
using Sensors360.Grains.Maintenance;
using Sensors360.Grains.Sensors;
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
    ILogger<SensorChangeListener> logger) : BackgroundService
{
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(5);

    // A silent connection is probed this often, so one that died without a word is noticed.
    private static readonly TimeSpan ProbeEvery = TimeSpan.FromSeconds(30);

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
        connection.Notification += (_, notification) =>
        {
            if (notification.Channel == NotificationOutbox.WakeChannel)
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
            $"LISTEN {SensorStore.ChangeChannel}; LISTEN {NotificationOutbox.WakeChannel}; LISTEN {MaintenanceStore.ChangeChannel}", connection))
        {
            await listen.ExecuteNonQueryAsync(cancellationToken);
        }

        // Whatever was announced while not listening is found by this look.
        notificationWake.Signal();

        gate.StartRemembering();
        // After a loss, the warning said so; operators also learn when it is back.
        if (afterLoss)
        {
            LogListeningAgain(logger);
        }
        else
        {
            LogListening(logger);
        }

        while (true)
        {
            if (!await connection.WaitAsync(ProbeEvery, cancellationToken))
            {
                // Named, so the connection can be told apart in pg_stat_activity (the readiness check sends a bare SELECT 1).
                await using var probe = new NpgsqlCommand("SELECT 1 /* change listener probe */", connection);
                await probe.ExecuteScalarAsync(cancellationToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not listening for new sensors and token rotations, so refused heartbeats are not remembered; retrying: {Reason}")]
    private static partial void LogListenFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening for new sensors and token rotations")]
    private static partial void LogListening(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening again for new sensors and token rotations")]
    private static partial void LogListeningAgain(ILogger logger);
}
