using Sensors360.Testing;
using static Sensors360.Server.Tests.Notifications.ChannelClient;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Notifications;

/// <summary>
/// The outbox keeps its history for <c>KeepHistoryFor</c> only: a resolved alert whose deliveries are all done is
/// forgotten once that has passed, and not before, while an open alert (its reminders are timed from its events) and a
/// resolved one with a delivery of any of its events still failing are kept whole, though older.
/// </summary>
public sealed class NotificationHistoryTests(ThrowawayPostgres postgres)
{
    private const int KeepSeconds = 5;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_resolved_alert_whose_deliveries_are_done_is_forgotten_after_the_history_period_and_open_or_unfinished_ones_are_kept()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(NotificationHistoryTests));
        await using var receiver = WebhookReceiver.Start();
        await using var server = ServerProcess.Start(database, "notify-history", new Dictionary<string, string?>
        {
            ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
            ["Sensors360__Notifications__KeepHistoryFor"] = $"00:00:0{KeepSeconds}",
            ["Sensors360__Notifications__MaxRetryDelay"] = "00:00:02",
        });
        await server.WaitUntilReadyAsync();
        using var admin = await server.LoginAsync();
        await CreateChannelAsync(admin, new { name = "all", kind = "webhook", url = receiver.Url("hook") });
        // Nothing listens there: the resolutions of sensors tagged "stuck" keep failing. Their raises go only to "all"
        // and are delivered, so the raise event is done and its alert's log is not: the log goes whole or not at all.
        await CreateChannelAsync(admin, new { name = "down", kind = "webhook", url = $"http://127.0.0.1:{FreePort.Next()}/hook", tags = new[] { "stuck" }, events = new[] { "alert.resolved" } });

        // In this order, so that when the last one's history may go, the earlier ones' may by age too.
        await SilentSensorAsync(admin, server.Http, "open-1");
        var open = (await OpenAlertAsync(admin, "open-1")).GetProperty("id").GetInt64();
        var stuck = await RaisedAndResolvedAsync(admin, server, "stuck-1", "stuck");
        var done = await RaisedAndResolvedAsync(admin, server, "done-1");
        await ReceivedAsync(receiver, "hook", request => request.Event == "alert.resolved" && request.SensorId == "done-1", "done-1's resolution delivered");

        await Eventually.TrueAsync(async () => await EventsAsync(database, done) == 0, Patience, "done-1's history deleted");
        // Not before its time: when the deletion is first seen (polled every few hundred ms), KeepHistoryFor has passed
        // since the resolve. A trim that ignored the setting deletes within a round of the delivery, a second or two.
        var millisecondsSinceResolved = await Sql.ScalarAsync(database,
            "SELECT (extract(epoch FROM clock_timestamp() - resolved_at) * 1000)::bigint FROM alert WHERE id = $1", done);
        Assert.True(millisecondsSinceResolved >= KeepSeconds * 1000, $"done-1's history was gone {millisecondsSinceResolved} ms after its resolve, before KeepHistoryFor ({KeepSeconds} s)");
        // Older, and kept: the open alert's raise, and both events of the alert whose resolution to "down" still fails.
        Assert.Equal(1, await EventsAsync(database, open));
        Assert.Equal(2, await EventsAsync(database, stuck));
        Assert.Equal(0, await Sql.ScalarAsync(database, """
            SELECT count(*) FROM notification_delivery d JOIN notification_event e ON e.id = d.event_id
            WHERE e.alert_id = $1 AND d.status NOT IN ('pending', 'failed') AND d.channel_id = (SELECT id FROM notification_channel WHERE name = 'down')
            """, stuck));
    }

    /// <summary>The sensor goes silent, then a heartbeat resolves its alert; that alert's id.</summary>
    private static async Task<long> RaisedAndResolvedAsync(HttpClient admin, ServerProcess server, string id, params string[] tags)
    {
        var token = await SilentSensorAsync(admin, server.Http, id, tags);
        var alert = (await OpenAlertAsync(admin, id)).GetProperty("id").GetInt64();
        await StoredHeartbeatAsync(server.Http, id, token);
        return alert;
    }

    private static Task<long> EventsAsync(string database, long alertId) =>
        Sql.ScalarAsync(database, "SELECT count(*) FROM notification_event WHERE alert_id = $1", alertId);
}
