namespace Sensors360.Server.Sensors;

public static class SensorsHosting
{
    public static WebApplicationBuilder AddSensors(this WebApplicationBuilder builder) => builder;

    public static IEndpointRouteBuilder MapSensors(this IEndpointRouteBuilder app) => app;

    public static IEndpointRouteBuilder MapHeartbeats(this IEndpointRouteBuilder app) => app;
}
