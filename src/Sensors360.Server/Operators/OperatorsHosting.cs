namespace Sensors360.Server.Operators;

// Placeholder wiring; the Operators feature fills this in.
public static class OperatorsHosting
{
    public static WebApplicationBuilder AddOperators(this WebApplicationBuilder builder) => builder;

    public static Task<bool> BootstrapOperatorsAsync(this WebApplication app) => Task.FromResult(app is not null);

    public static IEndpointRouteBuilder MapOperatorAuth(this IEndpointRouteBuilder app) => app;
}
