using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Alerts;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Audit;
using Sensors360.Server.Http;
using Sensors360.Server.Operators;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Alerts;

/// <summary>Alerts for operators: list them, acknowledge them. Sensor grains raise and resolve them.</summary>
public static class AlertsApi
{
    public static IEndpointRouteBuilder MapAlerts(this IEndpointRouteBuilder app)
    {
        var alerts = app.MapGroup("/api/alerts");
        alerts.MapGet("", ListAsync).RequireAuthorization(OperatorPolicies.Viewer);
        alerts.MapPost("/{id}/acknowledge", AcknowledgeAsync).RequireAuthorization(OperatorPolicies.Operator);
        return app;
    }

    internal static async Task<Results<Ok<AlertPageResponse>, ProblemHttpResult>> ListAsync(
        AlertStore store, CancellationToken cancellationToken, string? state = null, string? sensor = null, string? limit = null, string? cursor = null)
    {
        var wanted = AlertState.Open;
        if (!string.IsNullOrEmpty(state) && (!Enum.TryParse(state, ignoreCase: true, out wanted) || !state.All(char.IsAsciiLetterLower)))
        {
            return Problem(400, "Invalid state", "state must be one of open, resolved, all");
        }

        if (!string.IsNullOrEmpty(sensor) && !SensorIds.IsValid(sensor))
        {
            return Problem(400, "Invalid sensor id", $"sensor must be {SensorIds.Rule}");
        }

        if (!Paging.TryParseLimit(limit, out var pageSize, out var invalidLimit))
        {
            return invalidLimit!;
        }

        long? before = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            if (!long.TryParse(cursor, out var parsed) || parsed < 1)
            {
                return Problem(400, "Invalid cursor", "cursor must be a nextCursor value returned by this endpoint");
            }

            before = parsed;
        }

        var page = await store.ListAsync(wanted, string.IsNullOrEmpty(sensor) ? null : sensor, before, pageSize + 1, cancellationToken);
        var items = page.Take(pageSize).ToList();
        var next = page.Count > pageSize ? items[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        return TypedResults.Ok(new AlertPageResponse(items, next));
    }

    /// <summary>Goes through the alert's sensor grain, which records it and tells every dashboard.</summary>
    internal static async Task<Results<Ok<Alert>, ProblemHttpResult>> AcknowledgeAsync(
        string id, HttpContext http, ClaimsPrincipal user, AlertStore store, IGrainFactory grains, AuditLog audit, CancellationToken cancellationToken)
    {
        var notFound = Problem(404, "Alert not found", $"No alert has id '{id}'.");
        if (!long.TryParse(id, out var alertId) || alertId < 1 || await store.GetAsync(alertId, cancellationToken) is not { } alert)
        {
            return notFound;
        }

        var username = user.Identity?.Name ?? throw new InvalidOperationException("An operator session without a name.");
        AlertAcknowledgement acknowledgement;
        try
        {
            acknowledgement = await grains.GetGrain<ISensorGrain>(alert.SensorId).AcknowledgeAlert(alertId, username);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException)
        {
            return ChangeUnavailable();
        }

        if (acknowledgement is { Result: SensorCommandResult.Done, Alert: { } done })
        {
            await audit.WriteAfterChangeAsync(
                AuditEntry.For(http, AuditActions.AlertAcknowledged, id, new Dictionary<string, object?> { ["sensor"] = done.SensorId }), cancellationToken);
        }

        return acknowledgement switch
        {
            { Result: SensorCommandResult.Done, Alert: { } acknowledged } => TypedResults.Ok(acknowledged),
            { Result: SensorCommandResult.Unavailable } => ChangeUnavailable(),
            _ => notFound,
        };
    }
}

/// <summary>One page of alerts, newest first; pass <c>nextCursor</c> as <c>cursor</c> for the next page.</summary>
public sealed record AlertPageResponse(IReadOnlyList<Alert> Items, string? NextCursor);
