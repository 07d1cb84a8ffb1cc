using System.Globalization;
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
    NpgsqlDataSource dataSource, [FromKeyedServices(OwnDataSource.Listener)] NpgsqlDataSource listenerDataSource, HeartbeatGate gate, MaintenanceCalendar maintenance,
    NotificationWake notificationWake, TimeProvider time, IOptions<DatabaseOptions> options, ILogger<SensorChangeListener> logger) : BackgroundService
{
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(5);

    // This silo's own channel for its probes, so that silos do not hear each other's.
    private readonly string _probeChannel = $"sensors360_listener_{Guid.NewGuid():N}";

    private TimeSpan ProbeEvery => options.Value.ListenerProbeEvery;

    private string ProbeSeconds => ProbeEvery.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);

    // Until the first listen, a failure is not a loss: the first success is logged as the first.
    private bool _listenedBefore;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException or InvalidOperationException)
            {
                LogListenFailed(logger, e.Message.ReplaceLineEndings(" "));
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

    private async Task ListenAsync(CancellationToken cancellationToken)
    {
        // Not pooled: closed when the listen ends, so a connection the probe gave up on is never lent out again (Npgsql
        // keeps one whose wait was cancelled).
        await using var connection = await listenerDataSource.OpenConnectionAsync(cancellationToken);
        var answers = new ProbeAnswers();
        // Cancelled when this listen ends: the silo stops, the connection fails, or a probe goes unanswered.
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
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
        if (_listenedBefore)
        {
            LogListeningAgain(logger, _probeChannel);
        }
        else
        {
            LogListening(logger, _probeChannel);
            _listenedBefore = true;
        }

        // The wait has no timeout: Npgsql ends a timed wait by throwing and catching, five exceptions each time, and an
        // idle silo's exception count should stay still. The probe notices a connection that died without a word.
        var probing = ProbeAsync(answers, ended);
        try
        {
            while (true)
            {
                await connection.WaitAsync(ended.Token);
            }
        }
        catch (Exception e) when (ended.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // The probe has ended the listen, so its reason is ready.
            throw new IOException(await probing, e);
        }
        finally
        {
            gate.StopRemembering();
            await ended.CancelAsync();
            await probing;
        }
    }

    /// <summary>
    /// Every <see cref="ProbeEvery"/>, announces on this silo's probe channel through the pool, and ends the listen
    /// (<paramref name="ended"/>) when the announcement before has not come back on the listening connection since, or
    /// when one sent does not finish within the period: not listening is the safe side. Returns why. A probe that
    /// could not be sent (<see cref="SentAsync"/>) judges nothing, and a refusal is remembered for a minute at most anyway.
    /// </summary>
    private async Task<string> ProbeAsync(ProbeAnswers answers, CancellationTokenSource ended)
    {
        var awaited = 0L;
        try
        {
            while (true)
            {
                await Task.Delay(ProbeEvery, time, ended.Token);
                if (awaited > answers.Heard)
                {
                    await ended.CancelAsync();
                    return $"its own announcement on {_probeChannel} did not come back within {ProbeSeconds} s";
                }

                // Counted before it is sent, since its answer may come before the command returns.
                var before = answers.Heard;
                if (!await SentAsync(ended.Token))
                {
                    awaited = 0;
                    continue;
                }

                awaited = before + 1;
            }
        }
        catch (OperationCanceledException) when (ended.IsCancellationRequested)
        {
            return "the listen ended";
        }
        catch (TimeoutException e)
        {
            await ended.CancelAsync();
            return e.Message;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await ended.CancelAsync();
            var reason = e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message;
            return $"its own announcement on {_probeChannel} could not be sent: {reason}";
        }
    }

    /// <summary>
    /// Sends one probe through the pool: false when the pool gives no connection within a period (a full pool, an
    /// unreachable database) or the one it gives fails as a connection does (one that died while idle), which says
    /// nothing of the listening connection. A statement that does not finish within a period of its own throws.
    /// </summary>
    private async Task<bool> SentAsync(CancellationToken ended)
    {
        NpgsqlConnection connection;
        using (var opening = new CancellationTokenSource(ProbeEvery, time))
        using (var either = CancellationTokenSource.CreateLinkedTokenSource(ended, opening.Token))
        {
            try
            {
                connection = await dataSource.OpenConnectionAsync(either.Token);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException
                || (e is OperationCanceledException && opening.IsCancellationRequested && !ended.IsCancellationRequested))
            {
                return false;
            }
        }

        await using (connection)
        {
            using var deadline = new CancellationTokenSource(ProbeEvery, time);
            using var either = CancellationTokenSource.CreateLinkedTokenSource(ended, deadline.Token);
            try
            {
                // Named, so the probe can be told apart in pg_stat_activity.
                await using var probe = new NpgsqlCommand("SELECT pg_notify($1, '') /* change listener probe */", connection);
                probe.Parameters.Add(new NpgsqlParameter { Value = _probeChannel });
                await probe.ExecuteNonQueryAsync(either.Token);
                return true;
            }
            catch (NpgsqlException e) when (e.IsTransient && !deadline.IsCancellationRequested)
            {
                return false;
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ended.IsCancellationRequested)
            {
                throw new TimeoutException($"its own announcement on {_probeChannel} could not be sent within {ProbeSeconds} s");
            }
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
