namespace Sensors360.Server.Alerts;

public static class AlertsApi
{
    public static IEndpointRouteBuilder MapAlerts(this IEndpointRouteBuilder app) => app;
}
