using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Sensors360.Grains.Analytics;

public static class SensorAnalytics
{
    /// <summary>The fleet's lifespan statistics: their settings and the store they read. Expects an NpgsqlDataSource.</summary>
    public static IServiceCollection AddSensorAnalytics(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AnalyticsOptions>()
            .Bind(configuration.GetSection(AnalyticsOptions.Section))
            .Validate(options => options.PresumedDeadAfter > TimeSpan.Zero, $"{AnalyticsOptions.Section}:PresumedDeadAfter must be positive.")
            .ValidateOnStart();
        services.AddSingleton<LifespanStore>();
        return services;
    }
}
