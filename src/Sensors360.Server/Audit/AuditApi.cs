using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Sensors360.Server.Http;
using Sensors360.Server.Operators;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Audit;

/// <summary><c>GET /api/audit</c>: the audit trail for admins, newest first.</summary>
public static class AuditApi
{
    public static WebApplicationBuilder AddAudit(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<AuditLog>();
        return builder;
    }

    public static IEndpointRouteBuilder MapAudit(this IEndpointRouteBuilder app)
    {
        // Who did what, from where: for admins only.
        app.MapGet("/api/audit", ListAsync).RequireAuthorization(OperatorPolicies.Admin);
        return app;
    }

    internal static async Task<Results<Ok<AuditPageResponse>, ProblemHttpResult>> ListAsync(
        AuditLog log, CancellationToken cancellationToken, string? limit = null, string? cursor = null, string? actor = null, string? action = null)
    {
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

        if (!string.IsNullOrEmpty(actor) && !OperatorNames.IsValid(actor))
        {
            return Problem(400, "Invalid actor", $"actor must be an operator's username: {OperatorNames.Rule}");
        }

        if (!string.IsNullOrEmpty(action) && !AuditActions.IsWellFormed(action))
        {
            return Problem(400, "Invalid action", "action must be an action name such as login.failed or sensor.retired (docs/api.md lists them)");
        }

        var page = await log.ListAsync(
            string.IsNullOrEmpty(actor) ? null : actor, string.IsNullOrEmpty(action) ? null : action, before, pageSize + 1, cancellationToken);
        var items = page.Take(pageSize).ToList();
        var next = page.Count > pageSize ? items[^1].Id.ToString(CultureInfo.InvariantCulture) : null;
        return TypedResults.Ok(new AuditPageResponse(items, next));
    }
}

/// <summary>One page of audit events, newest first; pass <c>nextCursor</c> as <c>cursor</c> for the next page.</summary>
public sealed record AuditPageResponse(IReadOnlyList<AuditEvent> Items, string? NextCursor);
