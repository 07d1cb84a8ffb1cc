using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Sensors360.Abstractions.Analytics;
using Sensors360.Grains.Analytics;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Http;
using Sensors360.Server.Operators;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Analytics;

/// <summary>
/// The fleet's statistics beyond the live aggregate: <c>GET /api/analytics/lifespan</c>, the failure prediction's
/// <c>GET /api/analytics/at-risk</c> and <c>POST /api/analytics/at-risk/train</c> (docs/api.md, docs/analytics.md).
/// </summary>
public static class AnalyticsApi
{
    private const int DefaultAtRisk = 50;
    private const int MostAtRisk = 10_000;

    public static WebApplicationBuilder AddAnalytics(this WebApplicationBuilder builder)
    {
        builder.Services.AddSensorAnalytics(builder.Configuration);
        return builder;
    }

    /// <summary>Any role may read them; only an admin starts a training.</summary>
    public static IEndpointRouteBuilder MapAnalytics(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/analytics/lifespan", GetLifespanAsync).RequireAuthorization(OperatorPolicies.Viewer);
        app.MapGet("/api/analytics/at-risk", GetAtRiskAsync).RequireAuthorization(OperatorPolicies.Viewer);
        app.MapPost("/api/analytics/at-risk/train", TrainAsync).RequireAuthorization(OperatorPolicies.Admin);
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

    /// <summary>Served from the horizon's failure risk grain: the ranking it last scored, never a scan per request.</summary>
    internal static async Task<Results<Ok<AtRiskReport>, ProblemHttpResult>> GetAtRiskAsync(
        IGrainFactory grains,
        IOptions<AnalyticsOptions> options,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
        HttpResponse response,
        string? horizonHours = null,
        string? limit = null)
    {
        if (!TryParseHorizon(horizonHours, options.Value, out var hours, out var problem)
            || !Paging.TryParseLimit(limit, out var size, out problem, DefaultAtRisk, MostAtRisk))
        {
            return problem!;
        }

        var answer = await grains.GetGrain<IFailureRiskGrain>(hours).GetAtRisk(size);
        return answer.Report is { } report ? TypedResults.Ok(report) : NoModel(answer.Missing!, response, clock);
    }

    /// <summary>Trains the horizon's model now, say after a history import, and answers with it once the sensors are ranked.</summary>
    internal static async Task<Results<Ok<FailureModelSummary>, ProblemHttpResult>> TrainAsync(
        IGrainFactory grains,
        IOptions<AnalyticsOptions> options,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
        HttpResponse response,
        string? horizonHours = null)
    {
        if (!TryParseHorizon(horizonHours, options.Value, out var hours, out var problem))
        {
            return problem!;
        }

        var answer = await grains.GetGrain<IFailureRiskGrain>(hours).Train();
        return answer.Model is { } model ? TypedResults.Ok(model) : NoModel(answer.Missing!, response, clock);
    }

    /// <summary>
    /// Each horizon is a model of its own, trained again every few hours: only the configured ones are served, and
    /// the first of them when none is asked for.
    /// </summary>
    private static bool TryParseHorizon(string? value, AnalyticsOptions options, out int hours, out ProblemHttpResult? problem)
    {
        hours = options.Horizons[0];
        problem = null;
        if ((string.IsNullOrEmpty(value) || int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out hours))
            && options.Horizons.Contains(hours))
        {
            return true;
        }

        problem = Problem(400, "Invalid horizon",
            $"horizonHours must be one of the configured horizons ({string.Join(", ", options.Horizons)}); {AnalyticsOptions.Section}:HorizonHours adds others");
        return false;
    }

    /// <summary>503 with the reason: the history does not hold enough failures yet, or the first model is being trained.</summary>
    private static ProblemHttpResult NoModel(NoFailureModel missing, HttpResponse response, TimeProvider clock)
    {
        var retry = missing.NextAttemptAt is { } next ? Math.Max(60, (int)(next - clock.GetUtcNow()).TotalSeconds) : 60;
        response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
        return Problem(503, "No failure model yet", missing.Reason);
    }
}
