using Sensors360.Testing;
using static Sensors360.Server.Tests.Notifications.ChannelClient;

namespace Sensors360.Server.Tests.Notifications;

/// <summary>
/// The outbox survives the silo: an alert raised while its receiver is down, the silo killed (kill -9) before it could
/// deliver, and the notification still arrives once the receiver is up and a silo runs again, under one Idempotency-Key.
/// </summary>
public sealed class NotificationCrashTests(ThrowawayPostgres postgres)
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Sensors360__Monitoring__SilenceThreshold"] = "00:00:02",
        ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
        // Retries every second or two, so the restarted silo's attempt comes soon after it is up.
        ["Sensors360__Notifications__MaxRetryDelay"] = "00:00:02",
    };

    [Fact]
    public async Task A_silo_killed_between_the_alert_and_the_delivery_loses_no_notification()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(NotificationCrashTests));
        var receiverPort = FreePort.Next();
        var first = ServerProcess.Start(database, "notify-crash", Settings);
        string secret;
        long channelId;
        try
        {
            await first.WaitUntilReadyAsync();
            using var admin = await first.LoginAsync();
            var channel = await CreateChannelAsync(admin, new { name = "crash", kind = "webhook", url = $"http://127.0.0.1:{receiverPort}/hook" });
            secret = channel.GetProperty("secret").GetString()!;
            channelId = channel.GetProperty("id").GetInt64();
            await SilentSensorAsync(admin, first.Http, "crash-1");

            // The receiver is down: the silo has the event and has tried it, and not delivered it.
            var failed = await Eventually.MatchesAsync(
                () => DeliveriesAsync(admin, channelId),
                items => items.GetArrayLength() == 1 && items[0].GetProperty("status").GetString() == "failed",
                Patience,
                "a failed attempt while the receiver is down");
            Assert.False(string.IsNullOrEmpty(failed[0].GetProperty("lastError").GetString()));
            first.KillAbruptly();
        }
        finally
        {
            await first.DisposeAsync();
        }

        await using var receiver = WebhookReceiver.Start(receiverPort);
        // Where the dead silo was, so the new one finds its own earlier entry in the membership table and ends it.
        await using var second = ServerProcess.Start(
            database, "notify-crash", Settings, adminPassword: first.AdminPassword, ports: (first.BaseAddress.Port, first.SiloPort));
        await second.WaitUntilReadyAsync();
        using var again = await second.LoginAsync();

        var arrived = await ReceivedAsync(receiver, "hook", r => r.Event == "alert.raised" && r.SensorId == "crash-1", "the raise, after the restart");
        Assert.True(arrived.IsSignedWith(secret));
        var delivered = await Eventually.MatchesAsync(
            () => DeliveriesAsync(again, channelId),
            items => items.GetArrayLength() == 1 && items[0].GetProperty("status").GetString() == "delivered",
            Patience,
            "the delivery logged as delivered");
        Assert.True(delivered[0].GetProperty("attempts").GetInt32() >= 2);
        Assert.Equal(delivered[0].GetProperty("idempotencyKey").GetString(), arrived.IdempotencyKey);

        // At least once, and any second copy carries the same key.
        var raises = receiver.At("hook").Where(r => r.Event == "alert.raised").ToList();
        Assert.Single(raises.Select(r => r.IdempotencyKey).Distinct());
    }

    [Fact]
    public async Task An_invalid_notification_setting_stops_the_server_with_one_clear_line()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(An_invalid_notification_setting_stops_the_server_with_one_clear_line));
        await using var server = ServerProcess.Start(database, "notify-invalid", new Dictionary<string, string?>
        {
            ["Sensors360__Notifications__FirstRetry"] = "00:00:00",
        });

        Assert.NotEqual(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Single(server.Output, line => line.Contains("Sensors360:Notifications: SendTimeout, FirstRetry", StringComparison.Ordinal));
        Assert.DoesNotContain(server.Output, line => line.Contains("   at ", StringComparison.Ordinal));
    }
}
