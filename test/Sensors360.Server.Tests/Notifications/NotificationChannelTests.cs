using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Notifications.ChannelClient;
using static Sensors360.Server.Tests.Operators.OperatorClient;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Notifications;

/// <summary>
/// Notification channels against the real server and real receivers (an HTTP listener, an SMTP server): what each
/// kind sends, its filters, retries, reminders and the admin API. Each test's sensors carry their own tag, and its
/// channels filter on it, so the tests of this class do not see each other's alerts.
/// </summary>
public sealed class NotificationChannelTests(RunningServer running) : IClassFixture<RunningServer>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_webhook_gets_signed_raised_and_resolved_events_with_one_key_each_and_only_what_its_filters_let_through()
    {
        var admin = running.Operator;
        await using var receiver = WebhookReceiver.Start();
        var all = await CreateChannelAsync(admin, new { name = "web-all", kind = "webhook", url = receiver.Url("all"), tags = new[] { "n-web" } });
        var resolvedOnly = await CreateChannelAsync(admin, new { name = "web-resolved", kind = "webhook", url = receiver.Url("resolved"), tags = new[] { "n-web" }, events = new[] { "alert.resolved" } });
        await CreateChannelAsync(admin, new { name = "web-other", kind = "webhook", url = receiver.Url("other"), tags = new[] { "n-web-other" } });
        var secret = all.GetProperty("secret").GetString()!;
        Assert.Matches("^[0-9a-f]{64}$", secret);
        Assert.NotEqual(secret, resolvedOnly.GetProperty("secret").GetString());

        var token = await SilentSensorAsync(admin, running.Server.Http, "n-web-1", "n-web", "line-2");
        var raised = await ReceivedAsync(receiver, "all", r => r.Event == "alert.raised" && r.SensorId == "n-web-1", "the raise reached the webhook");
        Assert.True(raised.IsSignedWith(secret), "X-Sensors360-Signature is the HMAC-SHA256 of the body with the channel's secret");
        Assert.False(raised.IsSignedWith(resolvedOnly.GetProperty("secret").GetString()!));
        Assert.StartsWith("application/json", raised.ContentType, StringComparison.Ordinal);
        var body = raised.Json;
        Assert.Equal(["event", "alert", "sensor", "at"], body.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["n-web", "line-2"], body.GetProperty("sensor").GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        var alert = body.GetProperty("alert");
        Assert.Equal("n-web-1", alert.GetProperty("sensorId").GetString());
        Assert.Equal(JsonValueKind.Null, alert.GetProperty("resolvedAt").ValueKind);
        Assert.False(string.IsNullOrEmpty(raised.IdempotencyKey));

        // A heartbeat ends the silence: the resolve goes to both channels of the tag, under a key of its own.
        await StoredHeartbeatAsync(running.Server.Http, "n-web-1", token);

        var resolved = await ReceivedAsync(receiver, "all", r => r.Event == "alert.resolved" && r.SensorId == "n-web-1", "the resolve reached the webhook");
        var resolvedThere = await ReceivedAsync(receiver, "resolved", r => r.Event == "alert.resolved" && r.SensorId == "n-web-1", "the resolve reached the resolved-only webhook");
        Assert.True(resolved.IsSignedWith(secret));
        Assert.NotEqual(raised.IdempotencyKey, resolved.IdempotencyKey);
        Assert.NotEqual(resolved.IdempotencyKey, resolvedThere.IdempotencyKey);
        Assert.Equal(alert.GetProperty("id").GetInt64(), resolved.Json.GetProperty("alert").GetProperty("id").GetInt64());

        // The alert in the event has the shape of GET /api/alerts.
        var listed = (await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/alerts?sensor=n-web-1&state=all", UriKind.Relative), Cancel)).GetProperty("items")[0];
        Assert.Equal(listed.EnumerateObject().Select(p => p.Name), resolved.Json.GetProperty("alert").EnumerateObject().Select(p => p.Name));
        Assert.Equal(listed.GetProperty("resolvedAt").GetDateTimeOffset(), resolved.Json.GetProperty("alert").GetProperty("resolvedAt").GetDateTimeOffset());

        // The delivery log says the same; the filtered-out kinds and tags got nothing.
        var log = await Eventually.MatchesAsync(
            () => DeliveriesAsync(admin, all.GetProperty("id").GetInt64()),
            items => items.EnumerateArray().Count(d => d.GetProperty("status").GetString() == "delivered") == 2,
            Patience,
            "both deliveries logged as delivered");
        Assert.All(log.EnumerateArray(), d => Assert.Equal(1, d.GetProperty("attempts").GetInt32()));
        Assert.Equal(
            new[] { resolved.IdempotencyKey, raised.IdempotencyKey },
            log.EnumerateArray().Select(d => d.GetProperty("idempotencyKey").GetString()));
        Assert.DoesNotContain(receiver.At("resolved"), r => r.Event != "alert.resolved");
        Assert.Empty(receiver.At("other"));
        Assert.Single(receiver.At("all"), r => r.IdempotencyKey == raised.IdempotencyKey);
    }

    [Fact]
    public async Task A_receiver_failing_with_500_is_retried_with_the_same_key_until_it_takes_the_event_and_the_log_shows_it()
    {
        var admin = running.Operator;
        var calls = 0;
        await using var receiver = WebhookReceiver.Start(answer: _ => Interlocked.Increment(ref calls) <= 2 ? HttpStatusCode.InternalServerError : HttpStatusCode.OK);
        var channel = await CreateChannelAsync(admin, new { name = "retry", kind = "webhook", url = receiver.Url("hook"), tags = new[] { "n-retry" }, events = new[] { "alert.raised" } });
        var id = channel.GetProperty("id").GetInt64();
        await SilentSensorAsync(admin, running.Server.Http, "n-retry-1", "n-retry");

        var failed = await Eventually.MatchesAsync(
            () => DeliveriesAsync(admin, id),
            items => items.GetArrayLength() == 1 && items[0].GetProperty("status").GetString() == "failed",
            Patience,
            "the first failure logged");
        Assert.StartsWith("HTTP 500", failed[0].GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.NotEqual(JsonValueKind.Null, failed[0].GetProperty("nextAttemptAt").ValueKind);

        var delivered = await Eventually.MatchesAsync(
            () => DeliveriesAsync(admin, id),
            items => items[0].GetProperty("status").GetString() == "delivered",
            Patience,
            "delivered after the receiver recovered");
        Assert.Equal(3, delivered[0].GetProperty("attempts").GetInt32());
        Assert.StartsWith("HTTP 500", delivered[0].GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, delivered[0].GetProperty("nextAttemptAt").ValueKind);
        var requests = receiver.At("hook");
        Assert.Equal(3, requests.Count);
        Assert.Single(requests.Select(r => r.IdempotencyKey).Distinct());
        Assert.Equal(delivered[0].GetProperty("idempotencyKey").GetString(), requests[0].IdempotencyKey);
    }

    [Fact]
    public async Task Slack_and_email_channels_get_their_own_messages()
    {
        var admin = running.Operator;
        await using var receiver = WebhookReceiver.Start();
        await using var mail = new MailReceiver();
        var slackUrl = receiver.Url("slack?token=t0k3n");
        var slack = await CreateChannelAsync(admin, new { name = "slack", kind = "slack", url = slackUrl, tags = new[] { "n-chat" }, events = new[] { "alert.raised" } });
        Assert.False(slack.TryGetProperty("secret", out _), "only a webhook has a signing secret");
        // A Slack url is its credential: whole only in the answer that created the channel.
        Assert.Equal(slackUrl, slack.GetProperty("url").GetString());
        var slackId = slack.GetProperty("id").GetInt64();
        var shown = receiver.Url("***?***");
        Assert.Equal(shown, (await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/channels/{slackId}", UriKind.Relative), Cancel)).GetProperty("url").GetString());
        using (var renamed = await admin.PatchAsJsonAsync(new Uri($"/api/channels/{slackId}", UriKind.Relative), new { name = "slack-renamed" }, Cancel))
        {
            Assert.Equal(shown, (await renamed.Content.ReadFromJsonAsync<JsonElement>(Cancel)).GetProperty("url").GetString());
        }

        var list = await admin.GetStringAsync(new Uri("/api/channels", UriKind.Relative), Cancel);
        Assert.DoesNotContain("slack?token", list, StringComparison.Ordinal);
        Assert.DoesNotContain("t0k3n", list, StringComparison.Ordinal);
        var email = await CreateChannelAsync(admin, new
        {
            name = "email",
            kind = "email",
            tags = new[] { "n-chat" },
            events = new[] { "alert.raised" },
            email = new { host = "127.0.0.1", port = mail.Port, tls = "none", username = "mailer", password = "smtp-password-1", from = "monitor@example.test", to = new[] { "ops@example.test", "lead@example.test" } },
        });
        Assert.False(email.GetProperty("email").TryGetProperty("password", out _), "the password is never returned");
        Assert.True(email.GetProperty("email").GetProperty("hasPassword").GetBoolean());

        await SilentSensorAsync(admin, running.Server.Http, "n-chat-1", "n-chat");
        var message = await ReceivedAsync(receiver, "slack", r => r.Json.GetProperty("text").GetString()!.Contains("n-chat-1", StringComparison.Ordinal), "the Slack message");
        Assert.Null(message.Signature);
        Assert.Equal(["text"], message.Json.EnumerateObject().Select(p => p.Name));

        var letter = await Eventually.MatchesAsync(
            () => Task.FromResult(mail.Messages.FirstOrDefault(m => m.Subject?.Contains("n-chat-1", StringComparison.Ordinal) == true)),
            m => m is not null,
            Patience,
            "the email");
        Assert.Equal(["ops@example.test", "lead@example.test"], letter!.To.Mailboxes.Select(m => m.Address));
        Assert.Equal("monitor@example.test", letter.From.Mailboxes.Single().Address);
        Assert.Contains("n-chat-1", letter.TextBody, StringComparison.Ordinal);
        Assert.Contains(("mailer", "smtp-password-1"), mail.Credentials);
        var log = await DeliveriesAsync(admin, email.GetProperty("id").GetInt64());
        Assert.Equal($"{log[0].GetProperty("idempotencyKey").GetString()}@sensors360", letter.MessageId);
    }

    [Fact]
    public async Task An_unacknowledged_alert_repeats_every_repeatEvery_until_it_is_acknowledged_and_not_while_its_sensor_is_paused()
    {
        var admin = running.Operator;
        await using var receiver = WebhookReceiver.Start();
        await CreateChannelAsync(admin, new { name = "remind", kind = "webhook", url = receiver.Url("hook"), tags = new[] { "n-remind" }, repeatEvery = "00:00:02" });
        await SilentSensorAsync(admin, running.Server.Http, "n-remind-1", "n-remind");
        var alertId = (await OpenAlertAsync(admin, "n-remind-1")).GetProperty("id").GetInt64();

        var reminders = await Eventually.MatchesAsync(
            () => Task.FromResult(receiver.At("hook").Where(r => r.Event == "alert.reminder" && r.SensorId == "n-remind-1").ToList()),
            found => found.Select(r => r.IdempotencyKey).Distinct().Count() >= 2,
            Patience,
            "two reminders");
        var raised = receiver.At("hook").Single(r => r.Event == "alert.raised" && r.SensorId == "n-remind-1");
        var times = new[] { raised }.Concat(reminders).Select(r => r.Json.GetProperty("at").GetDateTimeOffset()).ToList();
        for (var i = 1; i < times.Count; i++)
        {
            Assert.True(times[i] - times[i - 1] >= TimeSpan.FromSeconds(1.9), $"reminder {i} came {times[i] - times[i - 1]} after the one before");
        }

        using (var acknowledged = await admin.PostAsync(new Uri($"/api/alerts/{alertId}/acknowledge", UriKind.Relative), null, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, acknowledged.StatusCode);
        }

        var acknowledgedAt = DateTimeOffset.UtcNow;

        // A paused sensor's open alert is not repeated while the pause runs.
        await SilentSensorAsync(admin, running.Server.Http, "n-remind-3", "n-remind");
        await OpenAlertAsync(admin, "n-remind-3");
        using (var paused = await admin.PostAsJsonAsync(
            new Uri("/api/sensors/n-remind-3/pause", UriKind.Relative), new { until = DateTimeOffset.UtcNow.AddHours(1), reason = "replacing the battery" }, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, paused.StatusCode);
        }

        var pausedAt = DateTimeOffset.UtcNow;

        // A second sensor's reminder, due 2 s after its raise, shows reminders were queued after the acknowledgement and the pause.
        await SilentSensorAsync(admin, running.Server.Http, "n-remind-2", "n-remind");
        await ReceivedAsync(receiver, "hook", r => r.Event == "alert.reminder" && r.SensorId == "n-remind-2", "the second sensor's reminder");
        Assert.DoesNotContain(receiver.At("hook"), r => r.Event == "alert.reminder" && r.SensorId == "n-remind-1"
            && r.Json.GetProperty("at").GetDateTimeOffset() > acknowledgedAt + TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(receiver.At("hook"), r => r.Event == "alert.reminder" && r.SensorId == "n-remind-3"
            && r.Json.GetProperty("at").GetDateTimeOffset() > pausedAt + TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Bad_input_is_a_400_problem_secrets_are_shown_once_and_every_change_is_audited()
    {
        var admin = running.Operator;
        await using var receiver = WebhookReceiver.Start();
        object[] bad =
        [
            new { name = "b", kind = "pager", url = receiver.Url("x") },
            new { name = "b", kind = "webhook", url = "/relative" },
            new { name = "b", kind = "webhook", url = "ftp://127.0.0.1/x" },
            new { name = "b", kind = "webhook" },
            new { name = "", kind = "webhook", url = receiver.Url("x") },
            new { name = "b", kind = "webhook", url = receiver.Url("x"), events = new[] { "alert.bogus" } },
            new { name = "b", kind = "webhook", url = receiver.Url("x"), tags = new[] { "no spaces" } },
            new { name = "b", kind = "webhook", url = receiver.Url("x"), repeatEvery = "00:00:00" },
            new { name = "b", kind = "webhook", url = receiver.Url("x"), repeatEvery = "-01:00:00" },
            new { name = "b", kind = "webhook", url = receiver.Url("x"), repeatEvery = "often" },
            new { name = "b", kind = "email", email = new { host = "127.0.0.1", port = 25, tls = "none", from = "a@example.test", to = Array.Empty<string>() } },
            new { name = "b", kind = "email", email = new { host = "127.0.0.1", port = 25, tls = "ssl", from = "a@example.test", to = new[] { "b@example.test" } } },
            new { name = "b", kind = "email", email = new { host = "127.0.0.1", port = 70000, tls = "none", from = "a@example.test", to = new[] { "b@example.test" } } },
            new { name = "b", kind = "email", email = new { host = "127.0.0.1", port = 25, tls = "none", from = "not an address", to = new[] { "b@example.test" } } },
        ];
        foreach (var channel in bad)
        {
            using var response = await admin.PostAsJsonAsync(new Uri("/api/channels", UriKind.Relative), channel, Cancel);
            await AssertProblemAsync(response, 400);
        }

        using (var malformed = await admin.PostAsync(new Uri("/api/channels", UriKind.Relative), new StringContent("{", System.Text.Encoding.UTF8, "application/json"), Cancel))
        {
            Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        }

        var created = await CreateChannelAsync(admin, new { name = "admin-api", kind = "webhook", url = receiver.Url("hook"), tags = new[] { "n-api" } });
        var id = created.GetProperty("id").GetInt64();
        Assert.Equal("04:00:00", created.GetProperty("repeatEvery").GetString());
        var secret = created.GetProperty("secret").GetString()!;
        using (var duplicate = await admin.PostAsJsonAsync(new Uri("/api/channels", UriKind.Relative), new { name = "admin-api", kind = "slack", url = receiver.Url("x") }, Cancel))
        {
            await AssertProblemAsync(duplicate, 409);
        }

        // Shown once: neither the channel nor the list has it again, and the database does not keep it in clear.
        var read = await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/channels/{id}", UriKind.Relative), Cancel);
        Assert.False(read.TryGetProperty("secret", out _));
        var listBody = await admin.GetStringAsync(new Uri("/api/channels", UriKind.Relative), Cancel);
        Assert.DoesNotContain(secret, listBody, StringComparison.Ordinal);
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM notification_channel WHERE protected_secret LIKE '%' || $1 || '%'", secret));

        // PATCH changes what it names, keeps the rest (and the secret), refuses a kind change.
        using (var patched = await admin.PatchAsJsonAsync(new Uri($"/api/channels/{id}", UriKind.Relative), new { name = "admin-api-2", events = new[] { "alert.raised" }, repeatEvery = "00:10:00" }, Cancel))
        {
            var changed = await patched.Content.ReadFromJsonAsync<JsonElement>(Cancel);
            Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
            Assert.Equal("admin-api-2", changed.GetProperty("name").GetString());
            Assert.Equal("00:10:00", changed.GetProperty("repeatEvery").GetString());
            Assert.Equal(["n-api"], changed.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
            Assert.False(changed.TryGetProperty("secret", out _));
        }

        using (var kind = await admin.PatchAsJsonAsync(new Uri($"/api/channels/{id}", UriKind.Relative), new { kind = "slack" }, Cancel))
        {
            await AssertProblemAsync(kind, 400);
        }

        // The test event: sent now, signed with the same secret, and the outcome is answered.
        using (var test = await admin.PostAsync(new Uri($"/api/channels/{id}/test", UriKind.Relative), null, Cancel))
        {
            var outcome = await test.Content.ReadFromJsonAsync<JsonElement>(Cancel);
            Assert.True(outcome.GetProperty("delivered").GetBoolean(), outcome.ToString());
        }

        var sent = Assert.Single(receiver.At("hook"));
        Assert.Equal("channel.test", sent.Event);
        Assert.True(sent.IsSignedWith(secret));

        var down = await CreateChannelAsync(admin, new { name = "down", kind = "slack", url = $"http://127.0.0.1:{FreePort.Next()}/nobody", tags = new[] { "n-none" } });
        using (var test = await admin.PostAsync(new Uri($"/api/channels/{down.GetProperty("id").GetInt64()}/test", UriKind.Relative), null, Cancel))
        {
            var outcome = await test.Content.ReadFromJsonAsync<JsonElement>(Cancel);
            Assert.Equal(HttpStatusCode.OK, test.StatusCode);
            Assert.False(outcome.GetProperty("delivered").GetBoolean());
            Assert.False(string.IsNullOrEmpty(outcome.GetProperty("error").GetString()));
        }

        using (var deleted = await admin.DeleteAsync(new Uri($"/api/channels/{id}", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        foreach (var path in new[] { $"/api/channels/{id}", $"/api/channels/{id}/deliveries", "/api/channels/abc" })
        {
            using var gone = await admin.GetAsync(new Uri(path, UriKind.Relative), Cancel);
            await AssertProblemAsync(gone, 404);
        }

        var target = id.ToString(CultureInfo.InvariantCulture);
        foreach (var action in new[] { "channel.created", "channel.changed", "channel.deleted" })
        {
            Assert.Equal(1, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM audit_event WHERE action = $1 AND target = $2 AND actor = 'admin'", action, target));
        }

        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM audit_event WHERE details::text LIKE '%' || $1 || '%'", secret));
    }

    [Fact]
    public async Task Only_admins_manage_channels()
    {
        var admin = running.Operator;
        var channel = await CreateChannelAsync(admin, new { name = "roles", kind = "slack", url = "http://127.0.0.1:9/roles", tags = new[] { "n-none" } });
        var id = channel.GetProperty("id").GetInt64();
        foreach (var role in new[] { "viewer", "operator" })
        {
            using var client = await CreateAndLoginAsync(running.Server, admin, $"n-{role}", role);
            using (var list = await client.GetAsync(new Uri("/api/channels", UriKind.Relative), Cancel))
            {
                await AssertProblemAsync(list, 403);
            }

            using (var create = await client.PostAsJsonAsync(new Uri("/api/channels", UriKind.Relative), new { name = $"by-{role}", kind = "slack", url = "http://127.0.0.1:9/x" }, Cancel))
            {
                await AssertProblemAsync(create, 403);
            }

            using (var deliveries = await client.GetAsync(new Uri($"/api/channels/{id}/deliveries", UriKind.Relative), Cancel))
            {
                await AssertProblemAsync(deliveries, 403);
            }

            using (var delete = await client.DeleteAsync(new Uri($"/api/channels/{id}", UriKind.Relative), Cancel))
            {
                await AssertProblemAsync(delete, 403);
            }
        }

        using var anonymous = await running.Server.Http.GetAsync(new Uri("/api/channels", UriKind.Relative), Cancel);
        await AssertProblemAsync(anonymous, 401);
        Assert.Equal(0, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM notification_channel WHERE name LIKE 'by-%'"));
    }
}
