using System.Net;
using Orleans.Configuration;
using Orleans.Connections.Security;
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
                // Missing ids are reported by CheckSettings before the silo starts.
                options.ClusterId = settings.ClusterId ?? string.Empty;
                options.ServiceId = settings.ServiceId ?? string.Empty;
            });

            // Port 0 switches the gateway off. Without listenOnAnyHostAddress the silo listens on the
            // advertised address only, not on every interface of the host.
            var gatewayPort = settings.GatewayPort ?? 0;
            if (string.IsNullOrWhiteSpace(settings.AdvertisedAddress))
            {
                silo.ConfigureEndpoints(settings.SiloPort, gatewayPort);
            }
            else if (IPAddress.TryParse(settings.AdvertisedAddress, out var advertised))
            {
                silo.ConfigureEndpoints(advertised, settings.SiloPort, gatewayPort);
            }

            if (settings.Tls.Enabled)
            {
                silo.UseClusterTls(settings.Tls);
            }

            // In a Kubernetes pod (deploy/k8s/): the silo takes its address, name and cluster ids from the pod, and the
            // pods of silos the cluster declared dead are deleted so Kubernetes replaces them.
            if (RunsInKubernetes())
            {
                silo.UseKubernetesHosting();
            }

            // Read lazily: a missing connection string is reported by PrepareDatabaseAsync, not as a crash here.
            // Orleans' providers share one pool of their share of the connection budget.
            silo.UsePostgres(() => ConnectionBudget
                .Of((configuration.GetSection(DatabaseOptions.Section).Get<DatabaseOptions>() ?? new DatabaseOptions()).MaxConnections)
                .ForOrleans(configuration.GetPostgresConnectionString()));
        });
        return builder;
    }

    /// <summary>Kubernetes sets this variable in every container it starts; nothing else does.</summary>
    public const string KubernetesVariable = "KUBERNETES_SERVICE_HOST";

    private static bool RunsInKubernetes() => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(KubernetesVariable));

    /// <summary>
    /// Mutual TLS on every silo connection (and the gateway, if on): each side presents the cluster
    /// certificate and accepts the other only if its certificate chains to a root in its own PFX.
    /// </summary>
    private static void UseClusterTls(this ISiloBuilder silo, ClusterTlsSettings tls)
    {
        ClusterCertificate certificate;
        try
        {
            certificate = ClusterCertificate.Load(tls, TimeProvider.System);
        }
        catch (ClusterCertificateException)
        {
            // CheckSettings loads it again and stops the server with the reason before the silo starts.
            return;
        }

        silo.Services.AddSingleton(certificate);
        silo.UseTls(certificate.Local, options =>
        {
            options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
            options.RemoteCertificateValidation = (peer, _, _) => certificate.IsTrustedPeer(peer);
        });
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
            if (e is Orleans.Runtime.MembershipService.OrleansClusterConnectivityCheckFailedException)
            {
                reason += " Every silo must reach the others' silo ports and, with cluster TLS, hold a certificate from the same root (Sensors360__Cluster__Tls__CertificatePath).";
            }

            LogCannotStart(app.Logger, reason);
            return 1;
        }
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "The server could not start: {Reason}")]
    private static partial void LogCannotStart(ILogger logger, string reason);
}
