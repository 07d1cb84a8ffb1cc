using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Sensors360.Abstractions.Alerts;
using Sensors360.Server.Audit;
using Sensors360.Server.Http;
using Sensors360.Server.Operators;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Notifications;

/// <summary>
/// A channel as the API shows it: never its secret or email password, nor a Slack channel's whole url, except the webhook
/// secret and the Slack url in the answer that created it.
/// </summary>
public sealed record ChannelResponse(
    long Id, string Name, string Kind, string? Url, EmailResponse? Email, string[] Tags, string[] Events, string RepeatEvery, DateTimeOffset CreatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Secret = null)
{
    public static ChannelResponse Of(StoredChannel channel, bool withSecret = false)
    {
        var settings = channel.Settings;
        var email = settings.Email is { } e
            ? new EmailResponse(e.Host, e.Port, e.Tls, e.Username, HasPassword: settings.Secret is not null, e.From, e.To)
            : null;
        return new ChannelResponse(
            channel.Id, settings.Name, settings.Kind, withSecret ? settings.Url : ChannelRules.ShownUrl(settings.Kind, settings.Url), email, settings.Tags, settings.Events,
            settings.RepeatEvery.ToString("c", CultureInfo.InvariantCulture), channel.CreatedAt,
            withSecret && settings.Kind == ChannelKinds.Webhook ? settings.Secret : null);
    }
}

public sealed record EmailResponse(string Host, int Port, string Tls, string? Username, bool HasPassword, string From, string[] To);

public sealed record ChannelListResponse(IReadOnlyList<ChannelResponse> Items);

public sealed record ChannelTestResponse(bool Delivered, string? Error);

/// <summary>Notification channels for admins (<c>/api/channels</c>): manage them, test one, read its delivery log.</summary>
public static class ChannelsApi
{
    public static IEndpointRouteBuilder MapChannels(this IEndpointRouteBuilder app)
    {
        var channels = app.MapGroup("/api/channels").RequireAuthorization(OperatorPolicies.Admin);
        channels.MapGet("", ListAsync);
        channels.MapPost("", CreateAsync);
        channels.MapGet("/{id}", GetAsync);
        channels.MapPatch("/{id}", ChangeAsync);
        channels.MapDelete("/{id}", DeleteAsync);
        channels.MapPost("/{id}/test", TestAsync);
        channels.MapGet("/{id}/deliveries", DeliveriesAsync);
        return app;
    }

    internal static async Task<Ok<ChannelListResponse>> ListAsync(ChannelStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok(new ChannelListResponse([.. (await store.ListAsync(cancellationToken)).Select(channel => ChannelResponse.Of(channel))]));

    internal static async Task<Results<Ok<ChannelResponse>, ProblemHttpResult>> GetAsync(string id, ChannelStore store, CancellationToken cancellationToken) =>
        await FindAsync(id, store, cancellationToken) is { } channel ? TypedResults.Ok(ChannelResponse.Of(channel)) : NotFound(id);

    internal static async Task<Results<Created<ChannelResponse>, ProblemHttpResult>> CreateAsync(
        ChannelRequest request, HttpContext http, ChannelStore store, CancellationToken cancellationToken)
    {
        var (draft, problem) = ChannelRules.Apply(request, existing: null, NewSecret());
        if (problem is not null)
        {
            return problem;
        }

        var created = await store.CreateAsync(draft!, Audit(http, AuditActions.ChannelCreated, null, draft!), cancellationToken);
        return created is null
            ? NameTaken(draft!.Name)
            : TypedResults.Created($"/api/channels/{created.Id}", ChannelResponse.Of(created, withSecret: true));
    }

    internal static async Task<Results<Ok<ChannelResponse>, ProblemHttpResult>> ChangeAsync(
        string id, ChannelRequest request, HttpContext http, ChannelStore store, CancellationToken cancellationToken)
    {
        if (await FindAsync(id, store, cancellationToken) is not { } existing)
        {
            return NotFound(id);
        }

        var (draft, problem) = ChannelRules.Apply(request, existing.Settings, NewSecret());
        if (problem is not null)
        {
            return problem;
        }

        var (result, changed) = await store.UpdateAsync(existing.Id, draft!, Audit(http, AuditActions.ChannelChanged, existing.Id, draft!), cancellationToken);
        return result switch
        {
            ChannelChange.Done => TypedResults.Ok(ChannelResponse.Of(changed!)),
            ChannelChange.NameTaken => NameTaken(draft!.Name),
            _ => NotFound(id),
        };
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string id, HttpContext http, ChannelStore store, CancellationToken cancellationToken)
    {
        if (await FindAsync(id, store, cancellationToken) is not { } existing)
        {
            return NotFound(id);
        }

        return await store.DeleteAsync(existing.Id, Audit(http, AuditActions.ChannelDeleted, existing.Id, existing.Settings), cancellationToken)
            ? TypedResults.NoContent()
            : NotFound(id);
    }

    /// <summary>Sends a synthetic <c>channel.test</c> event now, outside the outbox (no retry, no log), and says how it went.</summary>
    internal static async Task<Results<Ok<ChannelTestResponse>, ProblemHttpResult>> TestAsync(
        string id, ChannelStore store, ChannelSender sender, TimeProvider time, CancellationToken cancellationToken)
    {
        if (await FindAsync(id, store, cancellationToken) is not { } channel)
        {
            return NotFound(id);
        }

        var now = time.GetUtcNow();
        var alert = new Alert(0, "sensors360-test", Alert.Silent, now, now, ResolvedAt: null, AcknowledgedAt: null, AcknowledgedBy: null);
        var message = new NotificationMessage(NotificationEvents.Test, alert, channel.Settings.Tags, now, $"sensors360-test-{Guid.NewGuid():N}");
        var error = await sender.SendAsync(channel.Settings, message, cancellationToken);
        return TypedResults.Ok(new ChannelTestResponse(error is null, error));
    }

    internal static async Task<Results<Ok<DeliveryPageResponse>, ProblemHttpResult>> DeliveriesAsync(
        string id, ChannelStore store, NotificationOutbox outbox, CancellationToken cancellationToken, string? limit = null, string? cursor = null)
    {
        if (await FindAsync(id, store, cancellationToken) is not { } channel)
        {
            return NotFound(id);
        }

        if (!Paging.TryParseLimit(limit, out var pageSize, out var invalidLimit))
        {
            return invalidLimit!;
        }

        long? before = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            if (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) || parsed < 1)
            {
                return Problem(400, "Invalid cursor", "cursor must be a nextCursor value returned by this endpoint");
            }

            before = parsed;
        }

        var page = await outbox.ListAsync(channel.Id, before, pageSize + 1, cancellationToken);
        var items = page.Take(pageSize).ToList();
        var next = page.Count > pageSize ? items[^1].Id.ToString(CultureInfo.InvariantCulture) : null;
        return TypedResults.Ok(new DeliveryPageResponse(items, next));
    }

    private static async Task<StoredChannel?> FindAsync(string id, ChannelStore store, CancellationToken cancellationToken) =>
        long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var channelId) && channelId >= 1
            ? await store.GetAsync(channelId, cancellationToken)
            : null;

    /// <summary>32 random bytes as hex: what the receiver keys its HMAC with.</summary>
    private static string NewSecret() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    // The name and kind only: a channel's url or address may itself carry a secret (a Slack webhook's path).
    private static AuditEntry Audit(HttpContext http, string action, long? id, ChannelDraft channel) =>
        AuditEntry.For(http, action, id?.ToString(CultureInfo.InvariantCulture), new Dictionary<string, object?> { ["name"] = channel.Name, ["kind"] = channel.Kind });

    private static ProblemHttpResult NotFound(string id) => Problem(404, "Channel not found", $"No channel has id '{id}'.");

    private static ProblemHttpResult NameTaken(string name) => Problem(409, "Channel exists", $"A channel named '{name}' already exists.");
}
