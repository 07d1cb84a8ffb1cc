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
            _ = app.Services.GetRequiredService<IOptions<Dashboard.DashboardOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<Sensors.IngestOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<Http.HttpEdgeOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<Operators.OperatorSessionOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<Database.DatabaseOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<Notifications.NotificationOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<Metrics.MetricsOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<Database.RetentionOptions>>().Value;
        }
        catch (OptionsValidationException e)
        {
            var reason = string.Join(" ", e.Failures);
            LogInvalid(app.Logger, reason);
            return false;
        }
        catch (InvalidOperationException e)
        {
            // A value that is not of its setting's type (e.g. MaxConnections=many): the binder names the setting.
            LogInvalid(app.Logger, e.Message);
            return false;
        }

        if (Database.DatabaseHosting.CheckConnectionBudget(app.Configuration) is { } budgetProblem)
        {
            LogInvalid(app.Logger, budgetProblem);
            return false;
        }

        var cluster = app.Configuration.GetSection(ClusterSettings.Section).Get<ClusterSettings>() ?? new ClusterSettings();
        if (CheckCluster(cluster) is { } problem)
        {
            LogInvalid(app.Logger, problem);
            return false;
        }

        return true;
    }

    private static string? CheckCluster(ClusterSettings cluster)
    {
        if (string.IsNullOrWhiteSpace(cluster.ClusterId) || string.IsNullOrWhiteSpace(cluster.ServiceId))
        {
            return $"{ClusterSettings.Section}:ClusterId and ServiceId must be set (e.g. Sensors360__Cluster__ClusterId=plant-a-prod); there is no default, so no silo joins a cluster by accident.";
        }

        if (cluster.SiloPort is < 1 or > 65535 || cluster.GatewayPort is < 1 or > 65535 || cluster.SiloPort == cluster.GatewayPort)
        {
            return $"{ClusterSettings.Section}:SiloPort (and GatewayPort, if set) must be two different ports from 1 to 65535.";
        }

        if (!string.IsNullOrEmpty(cluster.AdvertisedAddress) && !System.Net.IPAddress.TryParse(cluster.AdvertisedAddress, out _))
        {
            return $"{ClusterSettings.Section}:AdvertisedAddress must be an IP address.";
        }

        if (!cluster.Tls.Enabled)
        {
            return string.IsNullOrEmpty(cluster.Tls.CertificatePassword)
                ? null
                : $"{ClusterSettings.Section}:Tls:CertificatePassword is set but CertificatePath is not.";
        }

        try
        {
            using var certificate = ClusterCertificate.Load(cluster.Tls, TimeProvider.System);
            return null;
        }
        catch (ClusterCertificateException e)
        {
            return e.Message;
        }
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "Invalid setting: {Reason}")]
    private static partial void LogInvalid(ILogger logger, string reason);
}
