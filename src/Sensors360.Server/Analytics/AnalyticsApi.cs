using Microsoft.AspNetCore.Http.HttpResults;
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

    internal static async Task<Results<Ok<LifespanResponse>, ProblemHttpResult>> GetLifespanAsync(
        LifespanStore store, CancellationToken cancellationToken, string? tag = null)
    {
        if (!string.IsNullOrEmpty(tag) && !SensorIds.IsValid(tag))
        {
            return Problem(400, "Invalid tag", $"tag must be {SensorIds.Rule}");
        }

        var observations = await store.ReadAsync(string.IsNullOrEmpty(tag) ? null : tag, cancellationToken);
        return TypedResults.Ok(LifespanResponse.From(LifespanEstimate.From(observations)));
    }
}

/// <summary>The body of <c>GET /api/analytics/lifespan</c>; durations in seconds, rounded to 0.1 s.</summary>
public sealed record LifespanResponse(
    int Sensors,
    int Failed,
    int Censored,
    double? MeanSeconds,
    double[]? MeanCi95,
    string MeanMethod,
    double? MedianSeconds,
    WeibullResponse? Weibull,
    double? NaiveMeanSeconds,
    IReadOnlyList<SurvivalPointResponse> Curve)
{
    public static LifespanResponse From(LifespanEstimate estimate) => new(
        estimate.Sensors,
        estimate.Failed,
        estimate.Censored,
        Round(estimate.MeanSeconds),
        estimate.MeanCi95 is { } ci ? [Math.Round(ci.Low, 1), Math.Round(ci.High, 1)] : null,
        estimate.MeanMethod.ToString().ToLowerInvariant(),
        Round(estimate.MedianSeconds),
        estimate.Weibull is { } fit ? new WeibullResponse(Math.Round(fit.Shape, 4), Math.Round(fit.ScaleSeconds, 1)) : null,
        Round(estimate.NaiveMeanSeconds),
        [.. estimate.Curve.Select(point => new SurvivalPointResponse(Math.Round(point.AgeSeconds, 1), Math.Round(point.Survival, 6), point.AtRisk))]);

    private static double? Round(double? seconds) => seconds is { } value ? Math.Round(value, 1) : null;
}

/// <summary>The fitted Weibull distribution: S(t) = exp(−(t / scale)^shape).</summary>
public sealed record WeibullResponse(double Shape, double ScaleSeconds);

/// <summary>One step of the Kaplan–Meier curve: the share still alive at this age, and how many were at risk.</summary>
public sealed record SurvivalPointResponse(double AgeSeconds, double Survival, int AtRisk);
