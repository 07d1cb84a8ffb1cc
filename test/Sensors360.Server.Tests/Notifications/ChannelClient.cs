using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Notifications;

/// <summary>What the notification tests do over HTTP: manage channels, read their logs, make a sensor go silent.</summary>
internal static class ChannelClient
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Creates a channel and returns the 201's body.</summary>
    public static async Task<JsonElement> CreateChannelAsync(HttpClient admin, object channel)
    {
        using var response = await admin.PostAsJsonAsync(new Uri("/api/channels", UriKind.Relative), channel, Cancel);
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"Creating channel: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public static async Task<JsonElement> DeliveriesAsync(HttpClient admin, long channelId) =>
        (await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/channels/{channelId}/deliveries", UriKind.Relative), Cancel)).GetProperty("items");

    /// <summary>
    /// Provisions a sensor with a 2 s threshold and sends one heartbeat: its silence alert follows within seconds. A
    /// heartbeat later than the threshold would add a never-reported alert, raised and resolved, to what the test counts.
    /// </summary>
    public static async Task<string> SilentSensorAsync(HttpClient admin, HttpClient anonymous, string id, params string[] tags)
    {
        var (_, token) = await ProvisionAsync(admin, id, new { id, tags, silenceThresholdSeconds = 2 });
        await StoredHeartbeatAsync(anonymous, id, token);
        var resolved = (await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/alerts?state=resolved&sensor={id}", UriKind.Relative), Cancel)).GetProperty("items");
        Assert.True(resolved.GetArrayLength() == 0, $"{id} was alerted as never reported before its first heartbeat: the set-up took longer than the threshold");
        return token;
    }

    /// <summary>The open alert of the sensor, once raised.</summary>
    public static async Task<JsonElement> OpenAlertAsync(HttpClient admin, string sensorId)
    {
        var items = await Eventually.MatchesAsync(
            async () => (await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/alerts?sensor={sensorId}", UriKind.Relative), Cancel)).GetProperty("items"),
            items => items.GetArrayLength() == 1,
            Patience,
            $"{sensorId} went silent");
        return items[0];
    }

    /// <summary>Waits until <paramref name="receiver"/> has a request at <paramref name="path"/> that <paramref name="accept"/> accepts.</summary>
    public static async Task<ReceivedRequest> ReceivedAsync(WebhookReceiver receiver, string path, Func<ReceivedRequest, bool> accept, string what) =>
        (await Eventually.MatchesAsync(
            () => Task.FromResult(receiver.At(path).FirstOrDefault(accept)),
            request => request is not null,
            Patience,
            what))!;
}
