using Microsoft.Extensions.Options;
using Sensors360.Grains.Sensors;

namespace Sensors360.Server.Cluster;

public static partial class SettingsCheck
{
    /// <summary>
    /// Validates the settings before anything starts, so a wrong value is one clear log line and exit
    /// code 1 instead of a host start-up failure with a stack trace.
    /// </summary>
    public static bool CheckSettings(this WebApplication app)
    {
        try
        {
            _ = app.Services.GetRequiredService<IOptions<MonitoringOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<Http.HttpEdgeOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<Operators.OperatorSessionOptions>>().Value;
        }
        catch (OptionsValidationException e)
        {
            var reason = string.Join(" ", e.Failures);
            LogInvalid(app.Logger, reason);
            return false;
        }

        var cluster = app.Configuration.GetSection(ClusterSettings.Section).Get<ClusterSettings>() ?? new ClusterSettings();
        if (cluster.SiloPort is < 1 or > 65535 || cluster.GatewayPort is < 1 or > 65535 || cluster.SiloPort == cluster.GatewayPort)
        {
            LogInvalid(app.Logger, $"{ClusterSettings.Section}:SiloPort and GatewayPort must be two different ports from 1 to 65535.");
            return false;
        }

        if (!string.IsNullOrEmpty(cluster.AdvertisedAddress) && !System.Net.IPAddress.TryParse(cluster.AdvertisedAddress, out _))
        {
            LogInvalid(app.Logger, $"{ClusterSettings.Section}:AdvertisedAddress must be an IP address.");
            return false;
        }

        return true;
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "Invalid setting: {Reason}")]
    private static partial void LogInvalid(ILogger logger, string reason);
}
