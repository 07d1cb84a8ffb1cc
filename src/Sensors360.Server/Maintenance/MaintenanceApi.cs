using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Maintenance;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Audit;
using Sensors360.Server.Http;
using Sensors360.Server.Operators;
using Sensors360.Server.Sensors;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Maintenance;

/// <summary>
/// Pausing one sensor (<c>POST /api/sensors/{id}/pause</c>, <c>/resume</c>) and maintenance windows by tag
/// (<c>/api/maintenance</c>): operators change them, viewers read them. Paused sensors raise no alert.
/// </summary>
public static class MaintenanceApi
{
    /// <summary>How far ahead a pause or a window may end.</summary>
    public static readonly TimeSpan MaxAhead = TimeSpan.FromDays(366);

    public const int MaxReasonLength = 500;

    /// <summary>
    /// How far back a window's start may be set: enough for a client's "now", not enough to hide past downtime from
    /// uptime after the fact.
    /// </summary>
    public static readonly TimeSpan StartLeeway = TimeSpan.FromMinutes(1);

    public static IEndpointRouteBuilder MapMaintenance(this IEndpointRouteBuilder app)
    {
        var sensors = app.MapGroup("/api/sensors");
        sensors.MapPost("/{id}/pause", PauseAsync).RequireAuthorization(OperatorPolicies.Operator);
        sensors.MapPost("/{id}/resume", ResumeAsync).RequireAuthorization(OperatorPolicies.Operator);

        var windows = app.MapGroup("/api/maintenance");
        windows.MapGet("", ListAsync).RequireAuthorization(OperatorPolicies.Viewer);
        windows.MapGet("/{id}", GetAsync).RequireAuthorization(OperatorPolicies.Viewer);
        windows.MapPost("", CreateAsync).RequireAuthorization(OperatorPolicies.Operator);
        windows.MapPatch("/{id}", ChangeAsync).RequireAuthorization(OperatorPolicies.Operator);
        windows.MapDelete("/{id}", DeleteAsync).RequireAuthorization(OperatorPolicies.Operator);
        return app;
    }

    internal static async Task<Results<Ok<SensorResponse>, ProblemHttpResult>> PauseAsync(
        string id, PauseRequest? request, HttpContext http, ClaimsPrincipal user, IGrainFactory grains, SensorDirectory directory, AuditLog audit,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!SensorIds.IsValid(id))
        {
            return SensorNotFound(id);
        }

        var now = clock.GetUtcNow();
        if (!Instants.TryParse(request?.Until, out var until))
        {
            return Problem(400, "Invalid until", $"until is required: {Instants.Rule}");
        }

        if (until <= now || until > now + MaxAhead)
        {
            return Problem(400, "Invalid until", $"until must be in the future, at most {MaxAhead.TotalDays:0} days ahead.");
        }

        if (InvalidReason(request!.Reason) is { } invalid)
        {
            return invalid;
        }

        var result = await grains.GetGrain<ISensorGrain>(id).Pause(new SensorPause(until, request.Reason, user.Identity?.Name));
        if (result == SensorCommandResult.Done)
        {
            var details = new Dictionary<string, object?> { ["until"] = until, ["reason"] = request.Reason };
            await audit.WriteAfterChangeAsync(AuditEntry.For(http, AuditActions.SensorPaused, id, details), cancellationToken);
        }

        return await CommandAnswerAsync(id, result, directory, cancellationToken);
    }

    internal static async Task<Results<Ok<SensorResponse>, ProblemHttpResult>> ResumeAsync(
        string id, HttpContext http, IGrainFactory grains, SensorDirectory directory, AuditLog audit, CancellationToken cancellationToken)
    {
        if (!SensorIds.IsValid(id))
        {
            return SensorNotFound(id);
        }

        var result = await grains.GetGrain<ISensorGrain>(id).EndPause();
        if (result == SensorCommandResult.Done)
        {
            await audit.WriteAfterChangeAsync(AuditEntry.For(http, AuditActions.SensorResumed, id), cancellationToken);
        }

        return await CommandAnswerAsync(id, result, directory, cancellationToken);
    }

    private static async Task<Results<Ok<SensorResponse>, ProblemHttpResult>> CommandAnswerAsync(
        string id, SensorCommandResult result, SensorDirectory directory, CancellationToken cancellationToken) => result switch
        {
            SensorCommandResult.NotFound => SensorNotFound(id),
            SensorCommandResult.Retired => Problem(409, "Sensor retired", $"Sensor '{id}' is retired; it cannot be paused or resumed."),
            SensorCommandResult.Unavailable => ChangeUnavailable(),
            _ => TypedResults.Ok(SensorResponse.From((await directory.GetAsync(id, cancellationToken))!)),
        };

    internal static async Task<Ok<MaintenanceWindowResponse[]>> ListAsync(
        MaintenanceStore store, [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, CancellationToken cancellationToken, string? state = null)
    {
        var now = clock.GetUtcNow();
        // By default what is running or ahead; state=all shows the past windows too.
        var windows = await store.ListAsync(state == "all" ? null : now, cancellationToken);
        return TypedResults.Ok(windows.Select(window => MaintenanceWindowResponse.From(window, now)).ToArray());
    }

    internal static async Task<Results<Ok<MaintenanceWindowResponse>, ProblemHttpResult>> GetAsync(
        string id, MaintenanceStore store, [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, CancellationToken cancellationToken)
    {
        return long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var windowId) && await store.GetAsync(windowId, cancellationToken) is { } window
            ? TypedResults.Ok(MaintenanceWindowResponse.From(window, clock.GetUtcNow()))
            : WindowNotFound(id);
    }

    internal static async Task<Results<Created<MaintenanceWindowResponse>, ProblemHttpResult>> CreateAsync(
        MaintenanceWindowRequest request, HttpContext http, ClaimsPrincipal user, MaintenanceStore store, AuditLog audit,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (request.Start is not null && !Instants.TryParse(request.Start, out _))
        {
            return Problem(400, "Invalid start", $"start must be {Instants.Rule}, or absent for now");
        }

        if (request.End is null)
        {
            return Problem(400, "Invalid end", $"end is required: {Instants.Rule}");
        }

        if (Validate(request.Start is null ? now.ToString("O", CultureInfo.InvariantCulture) : request.Start, request.End, request.Tags, request.Reason, now) is not { } valid)
        {
            return Invalid(request.Start, request.End, request.Tags, request.Reason, now);
        }

        if (valid.Start < now - StartLeeway)
        {
            return StartInPast();
        }

        var window = await store.CreateAsync(valid.Start, valid.End, valid.Tags, request.Reason, user.Identity?.Name, now, cancellationToken);
        await audit.WriteAfterChangeAsync(AuditEntry.For(http, AuditActions.MaintenanceCreated, window.Id.ToString(CultureInfo.InvariantCulture), Details(window)), cancellationToken);
        return TypedResults.Created($"/api/maintenance/{window.Id}", MaintenanceWindowResponse.From(window, now));
    }

    /// <summary>Changes what the body names; a window already over is history and cannot be changed (409).</summary>
    internal static async Task<Results<Ok<MaintenanceWindowResponse>, ProblemHttpResult>> ChangeAsync(
        string id, MaintenanceWindowRequest request, HttpContext http, MaintenanceStore store, AuditLog audit,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var windowId) || await store.GetAsync(windowId, cancellationToken) is not { } window)
        {
            return WindowNotFound(id);
        }

        var now = clock.GetUtcNow();
        if (window.End <= now)
        {
            return Problem(409, "Window over", $"Maintenance window {id} is over; it is kept as history.");
        }

        var start = request.Start ?? window.Start.ToString("O", CultureInfo.InvariantCulture);
        var end = request.End ?? window.End.ToString("O", CultureInfo.InvariantCulture);
        var tags = request.Tags ?? window.Tags;
        // Only a reason sent is checked: one stored before the text rule keeps the window changeable.
        if (Validate(start, end, tags, request.Reason, now) is not { } valid)
        {
            return Invalid(start, end, tags, request.Reason, now);
        }

        // A running window's start is the past: moving it would rewrite history.
        if (window.Start <= now && valid.Start != window.Start)
        {
            return Problem(409, "Window running", $"Maintenance window {id} has begun; its start cannot change.");
        }

        if (valid.Start != window.Start && valid.Start < now - StartLeeway)
        {
            return StartInPast();
        }

        if (await store.UpdateAsync(windowId, valid.Start, valid.End, valid.Tags, request.Reason ?? window.Reason, cancellationToken) is not { } changed)
        {
            return WindowNotFound(id);
        }

        await audit.WriteAfterChangeAsync(AuditEntry.For(http, AuditActions.MaintenanceChanged, id, Details(changed)), cancellationToken);
        return TypedResults.Ok(MaintenanceWindowResponse.From(changed, now));
    }

    /// <summary>A window not begun is deleted; a running one ends now; one over stays as history (409).</summary>
    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string id, HttpContext http, MaintenanceStore store, AuditLog audit,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var windowId))
        {
            return WindowNotFound(id);
        }

        var removal = await store.RemoveAsync(windowId, clock.GetUtcNow(), cancellationToken);
        switch (removal)
        {
            case MaintenanceRemoval.NotFound:
                return WindowNotFound(id);
            case MaintenanceRemoval.AlreadyOver:
                return Problem(409, "Window over", $"Maintenance window {id} is over; it is kept as history.");
        }

        var details = new Dictionary<string, object?> { ["outcome"] = removal == MaintenanceRemoval.Deleted ? "deleted" : "ended" };
        await audit.WriteAfterChangeAsync(AuditEntry.For(http, AuditActions.MaintenanceDeleted, id, details), cancellationToken);
        return TypedResults.NoContent();
    }

    private sealed record ValidWindow(DateTimeOffset Start, DateTimeOffset End, string[] Tags);

    private static ValidWindow? Validate(string start, string end, string[]? tags, string? reason, DateTimeOffset now) =>
        Instants.TryParse(start, out var from) && Instants.TryParse(end, out var to) && to > from && to > now && to <= now + MaxAhead
            && ValidTags(tags) && InvalidReason(reason) is null
            ? new ValidWindow(from, to, tags!)
            : null;

    /// <summary>The first thing wrong, as a 400 that says what to fix.</summary>
    private static ProblemHttpResult Invalid(string? start, string? end, string[]? tags, string? reason, DateTimeOffset now)
    {
        if (!Instants.TryParse(start, out var from))
        {
            return Problem(400, "Invalid start", $"start must be {Instants.Rule}");
        }

        if (!Instants.TryParse(end, out var to))
        {
            return Problem(400, "Invalid end", $"end must be {Instants.Rule}");
        }

        if (to <= from)
        {
            return Problem(400, "Invalid end", "end must be after start.");
        }

        if (to <= now || to > now + MaxAhead)
        {
            return Problem(400, "Invalid end", $"end must be in the future, at most {MaxAhead.TotalDays:0} days ahead.");
        }

        if (!ValidTags(tags))
        {
            return Problem(400, "Invalid tags", $"tags must be 1 to {SensorsApi.MaxTags} distinct values of {SensorIds.Rule}");
        }

        return InvalidReason(reason) ?? Problem(400, "Invalid window");
    }

    private static bool ValidTags(string[]? tags) =>
        tags is { Length: > 0 and <= SensorsApi.MaxTags }
        && tags.All(SensorIds.IsValid)
        && tags.Distinct(StringComparer.Ordinal).Count() == tags.Length;

    private static ProblemHttpResult? InvalidReason(string? reason) =>
        reason is { Length: > MaxReasonLength } || !StoredText.IsValid(reason)
            ? Problem(400, "Invalid reason", $"reason must be at most {MaxReasonLength} characters, {StoredText.Rule}")
            : null;

    private static Dictionary<string, object?> Details(MaintenanceWindow window) => new()
    {
        ["start"] = window.Start,
        ["end"] = window.End,
        ["tags"] = window.Tags,
        ["reason"] = window.Reason,
    };

    private static ProblemHttpResult StartInPast() =>
        Problem(400, "Invalid start", $"start may be at most {StartLeeway.TotalMinutes:0} minute in the past: past time cannot be put under maintenance.");

    private static ProblemHttpResult SensorNotFound(string id) => Problem(404, "Sensor not found", $"No sensor has id '{id}'.");

    private static ProblemHttpResult WindowNotFound(string id) => Problem(404, "Maintenance window not found", $"No maintenance window has id '{id}'.");
}

/// <summary>The body of <c>POST /api/sensors/{id}/pause</c>: until when (required), and why (optional).</summary>
public sealed record PauseRequest(string? Until, string? Reason);

/// <summary>The body of <c>POST /api/maintenance</c> (start absent: now) and of <c>PATCH</c> (only what changes).</summary>
public sealed record MaintenanceWindowRequest(string? Start, string? End, string[]? Tags, string? Reason);

/// <summary>A maintenance window; <c>state</c> is scheduled, running or over at the time of the answer.</summary>
public sealed record MaintenanceWindowResponse(
    long Id, DateTimeOffset Start, DateTimeOffset End, string[] Tags, string? Reason, string? CreatedBy, DateTimeOffset CreatedAt, string State)
{
    public static MaintenanceWindowResponse From(MaintenanceWindow window, DateTimeOffset now) => new(
        window.Id, window.Start, window.End, window.Tags, window.Reason, window.CreatedBy, window.CreatedAt,
        now < window.Start ? "scheduled" : now < window.End ? "running" : "over");
}
