using Microsoft.AspNetCore.Http.HttpResults;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Server.Operators;

namespace Sensors360.Server.Dashboard;

public static class FleetApi
{
    /// <summary><c>GET /api/fleet</c>: the fleet aggregate (docs/api.md), the same numbers the feed pushes.</summary>
    public static IEndpointRouteBuilder MapFleet(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/fleet", GetFleetAsync).RequireAuthorization(OperatorPolicies.Viewer);
        return app;
    }

    internal static async Task<Ok<FleetSnapshot>> GetFleetAsync(IGrainFactory grains) =>
        TypedResults.Ok(await grains.GetGrain<IDashboardGrain>(0).GetFleet());
}
