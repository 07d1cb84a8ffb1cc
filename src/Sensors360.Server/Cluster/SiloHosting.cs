using System.Net;
using Orleans.Configuration;
using Sensors360.Server.Database;

namespace Sensors360.Server.Cluster;

public static partial class SiloHosting
{
    /// <summary>Hosts an Orleans silo in this process, clustered and persisted through PostgreSQL.</summary>
    public static WebApplicationBuilder AddSensors360Silo(this WebApplicationBuilder builder)
    {
        var settings = builder.Configuration.GetSection(ClusterSettings.Section).Get<ClusterSettings>() ?? new ClusterSettings();
        var configuration = builder.Configuration;
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(options =>
            {
                options.ClusterId = settings.ClusterId;
                options.ServiceId = settings.ServiceId;
            });
            if (string.IsNullOrWhiteSpace(settings.AdvertisedAddress))
            {
                silo.ConfigureEndpoints(settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: true);
            }
            else
            {
                silo.ConfigureEndpoints(IPAddress.Parse(settings.AdvertisedAddress), settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: true);
            }

            // Read lazily: a missing connection string is reported by PrepareDatabaseAsync, not as a crash here.
            silo.UsePostgres(configuration.GetPostgresConnectionString);
        });
        return builder;
    }

    /// <summary>Runs until shutdown; 0 on a clean stop, 1 (after one log line) when the silo cannot start.</summary>
    public static async Task<int> RunSensors360Async(this WebApplication app)
    {
        try
        {
            await app.RunAsync();
            return 0;
        }
        catch (Exception e) when (e is OrleansException or IOException or System.Net.Sockets.SocketException or Microsoft.Extensions.Options.OptionsValidationException)
        {
            var reason = e.Message.ReplaceLineEndings(" ");
            LogCannotStart(app.Logger, reason);
            return 1;
        }
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "The server could not start: {Reason}")]
    private static partial void LogCannotStart(ILogger logger, string reason);
}
