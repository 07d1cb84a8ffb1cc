using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Sensors360.Grains.Prediction;

namespace Sensors360.Grains.Analytics;

public static class SensorAnalytics
{
    /// <summary>The fleet's lifespan statistics and failure prediction: their settings and the stores they read. Expects an NpgsqlDataSource.</summary>
    public static IServiceCollection AddSensorAnalytics(this IServiceCollection services, IConfiguration configuration)
    {
        const string section = AnalyticsOptions.Section;
        services.AddOptions<AnalyticsOptions>()
            .Bind(configuration.GetSection(section))
            .Validate(options => options.PresumedDeadAfter > TimeSpan.Zero, $"{section}:PresumedDeadAfter must be positive.")
            .Validate(options => options.Horizons.All(hours => hours is >= 1 and <= FailureHorizon.MaxHours),
                $"{section}:HorizonHours must each be between 1 and {FailureHorizon.MaxHours} hours.")
            .Validate(options => options.RetrainEvery >= TimeSpan.FromMinutes(1), $"{section}:RetrainEvery must be at least one minute.")
            .Validate(options => options.RescoreEvery >= TimeSpan.FromSeconds(1), $"{section}:RescoreEvery must be at least one second.")
            .Validate(options => options.TrainOver >= TimeSpan.FromDays(1), $"{section}:TrainOver must be at least one day.")
            .Validate(options => options.MaxTrainingExamples >= 1_000, $"{section}:MaxTrainingExamples must be at least 1000.")
            .ValidateOnStart();
        services.AddSingleton<LifespanStore>();
        services.AddSingleton<HeartbeatTimelineStore>();
        services.AddSingleton<FailurePrediction>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, FailureModelSchedule>();
        return services;
    }
}
