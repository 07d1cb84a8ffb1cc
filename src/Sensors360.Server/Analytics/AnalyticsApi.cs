using Microsoft.AspNetCore.Http.HttpResults;
using Sensors360.Abstractions.Analytics;
using Sensors360.Grains.Analytics;
using Sensors360.Grains.Sensors;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Analytics;

/// <summary>The fleet's statistics beyond the live aggregate: <c>GET /api/analytics/lifespan</c> (docs/api.md, docs/analytics.md).</summary>
public static class AnalyticsApi
{
    public static WebApplicationBuilder AddAnalytics(this WebApplicationBuilder builder)
    {
        builder.Services.AddSensorAnalytics(builder.Configuration);
        return builder;
    }

    /// <summary>Any operator session may read them (the fallback policy).</summary>
    public static IEndpointRouteBuilder MapAnalytics(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/analytics/lifespan", GetLifespanAsync);
        return app;
    }

    /// <summary>Served from the lifespan grain of the tag (or of the whole fleet): at most 30 seconds old, never a scan per request.</summary>
    internal static async Task<Results<Ok<LifespanReport>, ProblemHttpResult>> GetLifespanAsync(IGrainFactory grains, string? tag = null)
    {
        if (!string.IsNullOrEmpty(tag) && !SensorIds.IsValid(tag))
        {
            return Problem(400, "Invalid tag", $"tag must be {SensorIds.Rule}");
        }

        return TypedResults.Ok(await grains.GetGrain<ILifespanGrain>(string.IsNullOrEmpty(tag) ? ILifespanGrain.WholeFleet : tag).GetLifespan());
    }
}
