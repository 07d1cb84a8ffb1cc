using Sensors360.Grains.Sensors;

namespace Sensors360.Server.Sensors;

public static class SensorsHosting
{
    /// <summary>Sensor grains' services (heartbeat writer, stores, monitoring settings) in this silo.</summary>
    public static WebApplicationBuilder AddSensors(this WebApplicationBuilder builder)
    {
        builder.Services.AddSensorMonitoring(builder.Configuration);
        return builder;
    }
}
