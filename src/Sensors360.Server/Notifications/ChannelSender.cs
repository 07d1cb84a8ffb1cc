using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;
using Sensors360.Abstractions.Alerts;
using Sensors360.Server.Http;

namespace Sensors360.Server.Notifications;

/// <summary>What a channel is told: one event about one alert, with the key that is the same on every retry.</summary>
public sealed record NotificationMessage(string Event, Alert Alert, string[] SensorTags, DateTimeOffset At, string IdempotencyKey);

/// <summary>The webhook body (docs/api.md): the alert in the shape of <c>GET /api/alerts</c>.</summary>
public sealed record WebhookEvent(string Event, Alert Alert, WebhookSensor Sensor, DateTimeOffset At);

public sealed record WebhookSensor(string Id, string[] Tags);

/// <summary>
/// Sends one message to one channel: a signed JSON POST (webhook), a Slack incoming-webhook message, or an
/// email over SMTP. Returns null when the receiver took it, else what went wrong, in one line.
/// </summary>
public sealed class ChannelSender(IHttpClientFactory httpClients, IOptions<NotificationOptions> options)
{
    public const string HttpClientName = "notifications";
    public const string SignatureHeader = "X-Sensors360-Signature";
    public const string IdempotencyKeyHeader = "Idempotency-Key";
    public const string EventHeader = "X-Sensors360-Event";

    private const int MaxError = 500;

    /// <summary>The signature header's value: HMAC-SHA256 of the exact body bytes with the channel's secret, as lowercase hex.</summary>
    public static string Sign(string secret, ReadOnlySpan<byte> body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    public async Task<string?> SendAsync(ChannelDraft channel, NotificationMessage message, CancellationToken cancellationToken)
    {
        // One deadline for the whole attempt (an SMTP session is several round trips), so it ends within the claim's lease.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.Value.SendTimeout);
        try
        {
            return channel.Kind switch
            {
                ChannelKinds.Webhook => await PostAsync(channel, message, Webhook(message), sign: true, deadline.Token),
                ChannelKinds.Slack => await PostAsync(channel, message, Slack(message), sign: false, deadline.Token),
                ChannelKinds.Email => await EmailAsync(channel, message, deadline.Token),
                _ => $"Unknown channel kind '{channel.Kind}'.",
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"No answer within {options.Value.SendTimeout:c}.";
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException
                                      or MailKit.CommandException or MailKit.ProtocolException or SslHandshakeException
                                      or AuthenticationException or System.Security.Authentication.AuthenticationException
                                      or InvalidOperationException or FormatException or CryptographicException)
        {
            return Shorten($"{e.GetType().Name}: {e.Message}");
        }
    }

    private static byte[] Webhook(NotificationMessage message) => JsonSerializer.SerializeToUtf8Bytes(
        new WebhookEvent(message.Event, message.Alert, new WebhookSensor(message.Alert.SensorId, message.SensorTags), message.At),
        JsonSerializerOptions.Web);

    private static byte[] Slack(NotificationMessage message) =>
        JsonSerializer.SerializeToUtf8Bytes(new { text = Text(message) }, JsonSerializerOptions.Web);

    private async Task<string?> PostAsync(ChannelDraft channel, NotificationMessage message, byte[] body, bool sign, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, channel.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.Add(IdempotencyKeyHeader, message.IdempotencyKey);
        request.Headers.Add(EventHeader, message.Event);
        if (sign)
        {
            request.Headers.Add(SignatureHeader, Sign(channel.Secret ?? throw new InvalidOperationException("A webhook channel without its secret."), body));
        }

        using var client = httpClients.CreateClient(HttpClientName);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        return response.IsSuccessStatusCode
            ? null
            : Shorten($"HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
    }

    private static async Task<string?> EmailAsync(ChannelDraft channel, NotificationMessage message, CancellationToken cancellationToken)
    {
        var email = channel.Email ?? throw new InvalidOperationException("An email channel without its settings.");
        using var mail = new MimeMessage();
        mail.From.Add(MailboxAddress.Parse(email.From));
        foreach (var to in email.To)
        {
            mail.To.Add(MailboxAddress.Parse(to));
        }

        // Stable per event and channel, like the webhook's Idempotency-Key: mail clients fold a resent copy into one.
        mail.MessageId = $"{message.IdempotencyKey}@sensors360";
        mail.Headers.Add(IdempotencyKeyHeader, message.IdempotencyKey);
        mail.Subject = $"[Sensors 360] {Title(message)}";
        mail.Body = new TextPart("plain") { Text = Text(message) };

        using var smtp = new SmtpClient();
        var security = email.Tls switch
        {
            "tls" => SecureSocketOptions.SslOnConnect,
            "starttls" => SecureSocketOptions.StartTls,
            _ => SecureSocketOptions.None,
        };
        await smtp.ConnectAsync(email.Host, email.Port, security, cancellationToken);
        if (email.Username is { } username)
        {
            await smtp.AuthenticateAsync(username, channel.Secret ?? "", cancellationToken);
        }

        await smtp.SendAsync(mail, cancellationToken);
        await smtp.DisconnectAsync(quit: true, cancellationToken);
        return null;
    }

    private static string Title(NotificationMessage message)
    {
        var alert = message.Alert;
        var what = alert.Kind == Alert.NeverReported ? "has never reported" : "is silent";
        return message.Event switch
        {
            NotificationEvents.Raised => $"sensor {alert.SensorId} {what}",
            NotificationEvents.Resolved => $"sensor {alert.SensorId} is back",
            NotificationEvents.Reminder => $"sensor {alert.SensorId} still {what} (unacknowledged)",
            _ => $"test of this channel ({message.Event})",
        };
    }

    private static string Text(NotificationMessage message)
    {
        var alert = message.Alert;
        var text = new StringBuilder(Title(message)).Append('.');
        text.Append(CultureInfo.InvariantCulture, $" Alert {alert.Id} ({alert.Kind}), silent since {alert.SilentSince:u}, raised {alert.RaisedAt:u}");
        if (alert.ResolvedAt is { } resolved)
        {
            text.Append(CultureInfo.InvariantCulture, $", resolved {resolved:u}");
        }

        if (message.SensorTags.Length > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $". Tags: {string.Join(", ", message.SensorTags)}");
        }

        return text.Append('.').ToString();
    }

    // A receiver's own words (a reason phrase, an SMTP reply) are stored: one line, no control characters PostgreSQL
    // could refuse (U+0000).
    private static string Shorten(string error) =>
        StoredText.Cut(string.Concat(error.ReplaceLineEndings(" ").Select(c => char.IsControl(c) ? ' ' : c)), MaxError);
}
