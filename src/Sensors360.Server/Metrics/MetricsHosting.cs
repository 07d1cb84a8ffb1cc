using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Operators;

namespace Sensors360.Server.Metrics;

/// <summary>
/// OpenTelemetry metrics in the Prometheus text format at <c>/metrics</c> (docs/api.md#metrics): the server's own
/// meter, Orleans', ASP.NET Core's, Npgsql's and the runtime's. Open to loopback callers; others need the metrics
/// token (<see cref="MetricsScraper"/>).
/// </summary>
public static class MetricsHosting
{
    /// <summary>The one meter of every Sensors 360 instrument (names <c>sensors360.*</c>); the heartbeat writer's too.</summary>
    public const string MeterName = HeartbeatLog.MeterName;

    /// <summary>Orleans' own meter: grain activations, messages, membership.</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    public const string Path = "/metrics";

    /// <summary>ASP.NET Core's per-request instruments that are not exported.</summary>
    public const string ActiveRequests = "http.server.active_requests", RoutingMatchAttempts = "aspnetcore.routing.match_attempts";

    /// <summary>Kestrel's memory pool's instruments updated as buffers are rented and returned, several times a request.</summary>
    public const string PooledMemory = "aspnetcore.memory_pool.pooled", RentedMemory = "aspnetcore.memory_pool.rented";

    public static WebApplicationBuilder AddSensors360Metrics(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MetricsOptions>()
            .Bind(builder.Configuration.GetSection(MetricsOptions.Section));
        builder.Services.AddSingleton<IValidateOptions<MetricsOptions>, MetricsOptionsCheck>();
        builder.Services.AddSingleton<ServerInstruments>();
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("sensors360"))
            .WithMetrics(metrics => metrics
                .AddMeter(MeterName, OrleansMeter)
                .AddAspNetCoreInstrumentation()
                // Recorded on every request, read by no dashboard or alert (docs/operations.md#metrics uses the request
                // duration): not listened to, ASP.NET Core skips them (docs/performance.md#the-pipeline).
                .AddView(ActiveRequests, MetricStreamConfiguration.Drop)
                .AddView(RoutingMatchAttempts, MetricStreamConfiguration.Drop)
                // Read by nothing, and dearer than the request duration (docs/performance.md#the-pipeline);
                // the pool's growth (allocated) and eviction are rare and stay.
                .AddView(PooledMemory, MetricStreamConfiguration.Drop)
                .AddView(RentedMemory, MetricStreamConfiguration.Drop)
                .AddRuntimeInstrumentation()
                .AddNpgsqlInstrumentation()
                // Every scrape reads the instruments afresh: a cached answer would show a counter behind what was stored.
                .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0));
        builder.Services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, MetricsScraper>(MetricsScraper.SchemeName, configureOptions: null);
        builder.Services.AddAuthorizationBuilder().AddPolicy(MetricsScraper.Policy, policy => policy
            .AddAuthenticationSchemes(MetricsScraper.SchemeName)
            .RequireAuthenticatedUser());
        return builder;
    }

    /// <summary><c>GET /metrics</c>: loopback callers, or the metrics bearer token.</summary>
    public static WebApplication MapMetrics(this WebApplication app)
    {
        // Created now, so the gauges exist from the first scrape.
        _ = app.Services.GetRequiredService<ServerInstruments>();
        app.MapPrometheusScrapingEndpoint(Path).RequireAuthorization(MetricsScraper.Policy)
            .WithMetadata(ReadsNoOperatorSession.Instance);
        return app;
    }
}

internal sealed class MetricsOptionsCheck : IValidateOptions<MetricsOptions>
{
    public ValidateOptionsResult Validate(string? name, MetricsOptions options) =>
        options.FirstInvalid() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}
