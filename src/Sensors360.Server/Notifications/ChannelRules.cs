using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using MimeKit;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Http;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Notifications;

/// <summary>The kinds of channel and the events they can be sent.</summary>
public static class ChannelKinds
{
    public const string Webhook = "webhook";
    public const string Slack = "slack";
    public const string Email = "email";

    public static readonly string[] All = [Webhook, Slack, Email];
}

/// <summary>The event names of the notification contract (docs/api.md).</summary>
public static class NotificationEvents
{
    public const string Raised = "alert.raised";
    public const string Resolved = "alert.resolved";
    public const string Reminder = "alert.reminder";

    /// <summary>Sent only by <c>POST /api/channels/{id}/test</c>, never from the outbox.</summary>
    public const string Test = "channel.test";

    public static readonly string[] All = [Raised, Resolved, Reminder];
}

/// <summary>How an email channel reaches its SMTP server. The password is kept apart (encrypted) and never returned.</summary>
public sealed record EmailSettings(string Host, int Port, string Tls, string? Username, string From, string[] To)
{
    public static readonly string[] TlsModes = ["none", "starttls", "tls"];
}

/// <summary>A channel as it is stored, before its secret is added or after it was read (<see cref="Secret"/> in clear).</summary>
public sealed record ChannelDraft(
    string Name, string Kind, string? Url, EmailSettings? Email, string[] Tags, string[] Events, TimeSpan RepeatEvery, string? Secret);

/// <summary>A channel to create or the fields to change; absent fields keep their value on PATCH.</summary>
public sealed record ChannelRequest(
    string? Name, string? Kind, string? Url, EmailRequest? Email, string[]? Tags, string[]? Events, string? RepeatEvery);

/// <summary>An email channel's settings; on PATCH a missing password keeps the stored one.</summary>
public sealed record EmailRequest(string? Host, int? Port, string? Tls, string? Username, string? Password, string? From, string[]? To);

/// <summary>What a channel request must satisfy, with the 400 that says what to fix.</summary>
public static class ChannelRules
{
    public const int MaxName = 100;
    public const int MaxTags = 16;
    public const int MaxRecipients = 50;
    public static readonly TimeSpan DefaultRepeatEvery = TimeSpan.FromHours(4);
    public static readonly TimeSpan MinRepeatEvery = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The channel <paramref name="request"/> describes, laid over <paramref name="existing"/> (PATCH) or over
    /// nothing (POST), or the problem with it. A new webhook gets <paramref name="newSecret"/>.
    /// </summary>
    public static (ChannelDraft? Draft, ProblemHttpResult? Problem) Apply(ChannelRequest request, ChannelDraft? existing, string newSecret)
    {
        var name = request.Name ?? existing?.Name;
        if (string.IsNullOrWhiteSpace(name) || name.Length > MaxName || name.Trim() != name || !StoredText.IsValid(request.Name))
        {
            return Fail("Invalid name", $"name must be 1 to {MaxName} characters, without leading or trailing spaces, {StoredText.Rule}");
        }

        var kind = request.Kind ?? existing?.Kind;
        if (kind is null || !ChannelKinds.All.Contains(kind, StringComparer.Ordinal))
        {
            return Fail("Invalid kind", "kind must be one of webhook, slack, email");
        }

        if (existing is not null && kind != existing.Kind)
        {
            return Fail("Kind cannot change", "Create a new channel for another kind and delete this one.");
        }

        var tags = request.Tags ?? existing?.Tags ?? [];
        if (tags.Length > MaxTags || !tags.All(SensorIds.IsValid) || tags.Distinct(StringComparer.Ordinal).Count() != tags.Length)
        {
            return Fail("Invalid tags", $"tags must be at most {MaxTags} distinct values of {SensorIds.Rule}");
        }

        var events = request.Events ?? existing?.Events ?? [];
        if (!events.All(e => NotificationEvents.All.Contains(e, StringComparer.Ordinal)) || events.Distinct(StringComparer.Ordinal).Count() != events.Length)
        {
            return Fail("Invalid events", "events must be distinct values of alert.raised, alert.resolved, alert.reminder (empty: all)");
        }

        var repeatEvery = existing?.RepeatEvery ?? DefaultRepeatEvery;
        if (request.RepeatEvery is not null
            && (!TimeSpan.TryParseExact(request.RepeatEvery, "c", CultureInfo.InvariantCulture, out repeatEvery)
                || repeatEvery < MinRepeatEvery || repeatEvery.Ticks % TimeSpan.TicksPerSecond != 0 || repeatEvery.TotalSeconds > int.MaxValue))
        {
            return Fail("Invalid repeatEvery", "repeatEvery must be a whole number of seconds of at least 00:00:01, as a TimeSpan (e.g. 04:00:00)");
        }

        if (kind == ChannelKinds.Email)
        {
            if (request.Url is not null)
            {
                return Fail("Invalid url", "An email channel has no url; send email settings.");
            }

            var (email, password, problem) = ApplyEmail(request.Email, existing?.Email, existing?.Secret);
            return problem is not null
                ? (null, problem)
                : (new ChannelDraft(name, kind, null, email, tags, events, repeatEvery, password), null);
        }

        if (request.Email is not null)
        {
            return Fail("Invalid email", $"A {kind} channel has no email settings; send a url.");
        }

        // A client that sends back what it read (a PATCH of the whole channel) sends the masked url: it keeps the stored one.
        var url = existing is not null && request.Url is { } sent && sent == ShownUrl(existing.Kind, existing.Url) ? existing.Url : request.Url ?? existing?.Url;
        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var parsed) || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps)
            || !string.IsNullOrEmpty(parsed.UserInfo) || url.Length > 2000 || !StoredText.IsValid(request.Url))
        {
            return Fail("Invalid url", "url must be an absolute http or https URL without credentials (loopback and private addresses are allowed)");
        }

        var secret = kind == ChannelKinds.Webhook ? existing?.Secret ?? newSecret : null;
        return (new ChannelDraft(name, kind, url, null, tags, events, repeatEvery, secret), null);
    }

    /// <summary>
    /// The url as answers show it. A Slack incoming webhook's url is its credential (the last path segment is the key;
    /// a query may carry a token), so that segment and any query show as <c>***</c>: enough to tell channels apart, not
    /// to post to one. Only the answer that created the channel shows it whole.
    /// </summary>
    public static string? ShownUrl(string kind, string? url)
    {
        if (kind != ChannelKinds.Slack || url is null)
        {
            return url;
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var parsed))
        {
            return "***";
        }

        // The key is the last segment that has a name: ".../KEY/" and ".../KEY/." end in a slash.
        var path = "/" + parsed.AbsolutePath.Trim('/');
        return $"{parsed.GetLeftPart(UriPartial.Authority)}{path[..(path.LastIndexOf('/') + 1)]}***{(parsed.Query.Length > 0 ? "?***" : "")}";
    }

    private static (EmailSettings? Email, string? Password, ProblemHttpResult? Problem) ApplyEmail(
        EmailRequest? request, EmailSettings? existing, string? existingPassword)
    {
        if (request is null)
        {
            return existing is null
                ? (null, null, Problem(400, "Invalid email", "An email channel needs email: {host, port, tls, username, password, from, to}."))
                : (existing, existingPassword, null);
        }

        var host = request.Host ?? existing?.Host;
        var port = request.Port ?? existing?.Port ?? 587;
        var tls = request.Tls ?? existing?.Tls ?? "starttls";
        var username = request.Username ?? existing?.Username;
        var from = request.From ?? existing?.From;
        var to = request.To ?? existing?.To ?? [];
        var password = request.Password ?? existingPassword;
        if (string.IsNullOrWhiteSpace(host) || Uri.CheckHostName(host) == UriHostNameType.Unknown)
        {
            return (null, null, Problem(400, "Invalid email", "email.host must be a host name or address"));
        }

        if (port is < 1 or > 65535)
        {
            return (null, null, Problem(400, "Invalid email", "email.port must be from 1 to 65535"));
        }

        if (!EmailSettings.TlsModes.Contains(tls, StringComparer.Ordinal))
        {
            return (null, null, Problem(400, "Invalid email", "email.tls must be one of none, starttls, tls"));
        }

        if (!IsMailbox(from))
        {
            return (null, null, Problem(400, "Invalid email", "email.from must be an email address"));
        }

        if (to.Length is 0 or > MaxRecipients || !to.All(IsMailbox))
        {
            return (null, null, Problem(400, "Invalid email", $"email.to must be 1 to {MaxRecipients} email addresses"));
        }

        // Only what is sent is checked: what was stored before the text rule keeps the channel changeable.
        if (!StoredText.IsValid(request.Host) || !StoredText.IsValid(request.Username) || !StoredText.IsValid(request.From)
            || !(request.To ?? []).All(StoredText.IsValid))
        {
            return (null, null, Problem(400, "Invalid email", $"email.host, username, from and to must be {StoredText.Rule}"));
        }

        if (string.IsNullOrEmpty(username) != string.IsNullOrEmpty(password))
        {
            return (null, null, Problem(400, "Invalid email", "email.username and email.password go together (both or neither)"));
        }

        return (new EmailSettings(host, port, tls, string.IsNullOrEmpty(username) ? null : username, from!, to), string.IsNullOrEmpty(password) ? null : password, null);
    }

    private static bool IsMailbox(string? address) =>
        !string.IsNullOrWhiteSpace(address) && MailboxAddress.TryParse(address, out var mailbox) && mailbox.Address.Contains('@', StringComparison.Ordinal);

    private static (ChannelDraft?, ProblemHttpResult?) Fail(string title, string detail) => (null, Problem(400, title, detail));
}
