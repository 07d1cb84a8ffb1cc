using Microsoft.Extensions.DependencyInjection.Extensions;
using Sensors360.Grains.Sensors;

namespace Sensors360.Server.Sensors;

public static class SensorsHosting
{
    /// <summary>Sensor grains' services (heartbeat writer, stores, monitoring settings) in this silo, and the heartbeat routes' limits.</summary>
    public static WebApplicationBuilder AddSensors(this WebApplicationBuilder builder)
    {
        builder.Services.AddSensorMonitoring(builder.Configuration);
        builder.Services.AddOptions<IngestOptions>()
            .Bind(builder.Configuration.GetSection(IngestOptions.Section))
            .Validate(options => options.MaxHeartbeatsPerSecond >= 1, $"{IngestOptions.Section}:MaxHeartbeatsPerSecond must be at least 1.")
            .Validate(options => options.MaxRefusedHeartbeatsPerMinute >= 1, $"{IngestOptions.Section}:MaxRefusedHeartbeatsPerMinute must be at least 1.");
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<HeartbeatGate>();
        builder.Services.AddHostedService<SensorChangeListener>();
        return builder;
    }
}
