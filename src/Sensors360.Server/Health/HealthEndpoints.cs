using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Sensors360.Server.Operators;

namespace Sensors360.Server.Health;

public static class HealthEndpoints
{
    /// <summary>The tag of the checks <c>/readyz</c> runs.</summary>
    internal const string ReadyTag = "ready";

    public static WebApplicationBuilder AddSensors360Health(this WebApplicationBuilder builder)
    {
        builder.Services.AddHealthChecks()
            .AddCheck<SiloActiveCheck>("silo", tags: [ReadyTag])
            .AddCheck<PostgresCheck>("postgres", tags: [ReadyTag]);
        return builder;
    }

    /// <summary>
    /// <c>/healthz</c>: the process answers. <c>/readyz</c>: the silo is active in the cluster and the
    /// database answers (503 otherwise), so a load balancer only sends traffic to silos that can serve it.
    /// Both anonymous; <c>/readyz</c> shows each check's description only to an operator's session.
    /// </summary>
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = (context, report) => WriteJsonAsync(context, report, withChecks: true) })
            .AllowAnonymous()
            .WithMetadata(ReadsNoOperatorSession.Instance);
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = (context, report) => WriteJsonAsync(context, report, withChecks: context.User.Identity?.IsAuthenticated == true),
        }).AllowAnonymous();
        return app;
    }

    // Anonymous callers of /readyz (load balancers, anyone on the network) get the status alone: the checks'
    // descriptions name silo addresses and database errors. An operator's session gets them too.
    private static Task WriteJsonAsync(HttpContext context, HealthReport report, bool withChecks)
    {
        context.Response.ContentType = "application/json";
        var status = report.Status.ToString().ToLowerInvariant();
        object body = withChecks
            ? new
            {
                status,
                checks = report.Entries.ToDictionary(
                    entry => entry.Key,
                    entry => new { status = entry.Value.Status.ToString().ToLowerInvariant(), description = entry.Value.Description }),
            }
            : new { status };
        return JsonSerializer.SerializeAsync(context.Response.Body, body, JsonSerializerOptions.Web, context.RequestAborted);
    }
}
