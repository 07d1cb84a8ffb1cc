using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Sensors360.Grains.Sensors;
using Sensors360.Grains.Uptime;
using Sensors360.Server.Operators;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Uptime;

/// <summary>
/// Uptime history for viewers: one sensor's (<c>GET /api/sensors/{id}/uptime</c>) and the fleet's per day
/// (<c>GET /api/fleet/uptime</c>), over the last <c>days</c> UTC days, from alert history (docs/api.md#uptime).
/// </summary>
public static class UptimeApi
{
    public const int DefaultDays = 30;
    public const int MaxDays = 365;

    public static IEndpointRouteBuilder MapUptime(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/sensors/{id}/uptime", GetSensorAsync).RequireAuthorization(OperatorPolicies.Viewer);
        app.MapGet("/api/fleet/uptime", GetFleetAsync).RequireAuthorization(OperatorPolicies.Viewer);
        return app;
    }

    internal static async Task<Results<Ok<SensorUptime>, ProblemHttpResult>> GetSensorAsync(
        string id, UptimeStore store, [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, CancellationToken cancellationToken, string? days = null)
    {
        if (!TryParseDays(days, out var window))
        {
            return InvalidDays();
        }

        if (!SensorIds.IsValid(id))
        {
            return Problem(404, "Sensor not found", $"No sensor has id '{id}'.");
        }

        var now = clock.GetUtcNow();
        var history = await store.ReadSensorAsync(id, UptimeCalculation.WindowStart(now, window), now, cancellationToken);
        return history is null
            ? Problem(404, "Sensor not found", $"No sensor has id '{id}'.")
            : TypedResults.Ok(UptimeCalculation.ForSensor(id, history, window, now));
    }

    internal static async Task<Results<Ok<FleetUptime>, ProblemHttpResult>> GetFleetAsync(
        UptimeStore store, [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, CancellationToken cancellationToken, string? days = null)
    {
        if (!TryParseDays(days, out var window))
        {
            return InvalidDays();
        }

        var now = clock.GetUtcNow();
        var histories = await store.ReadFleetAsync(UptimeCalculation.WindowStart(now, window), now, cancellationToken);
        return TypedResults.Ok(UptimeCalculation.ForFleet(histories, window, now));
    }

    private static bool TryParseDays(string? text, out int days)
    {
        if (string.IsNullOrEmpty(text))
        {
            days = DefaultDays;
            return true;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out days) && days is >= 1 and <= MaxDays;
    }

    private static ProblemHttpResult InvalidDays() => Problem(400, "Invalid days", $"days must be a whole number from 1 to {MaxDays}");
}
