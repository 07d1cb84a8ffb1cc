using System.Globalization;

namespace Sensors360.Testing;

/// <summary>
/// The topology of <c>build.ps1 cluster</c>: silos of one cluster on this machine (same cluster and service id,
/// advertised on 127.0.0.1, no gateway, each on its own HTTP and silo port) behind HAProxy, whose address
/// they trust for <c>X-Forwarded-For</c>. A silo can be killed, stopped with SIGTERM and started again on its
/// ports, where the balancer expects it.
/// </summary>
public sealed class SiloCluster : IAsyncDisposable
{
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(60);

    private readonly string _connectionString;
    private readonly string _clusterId;
    private readonly Dictionary<string, string?> _environment;
    private readonly (int Http, int Silo)[] _ports;
    private readonly int?[] _gateways;
    private readonly ServerProcess[] _silos;
    private LoadBalancer? _balancer;

    private SiloCluster(string connectionString, string clusterId, Dictionary<string, string?> environment, int silos, bool gateways)
    {
        _connectionString = connectionString;
        _clusterId = clusterId;
        _environment = environment;
        _ports = [.. Enumerable.Range(0, silos).Select(_ => (FreePort.Next(), FreePort.Next()))];
        _gateways = [.. Enumerable.Range(0, silos).Select(_ => gateways ? FreePort.Next() : (int?)null)];
        _silos = new ServerProcess[silos];
        AdminPassword = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(18));
    }

    /// <summary>The silos' processes, by index; a restarted silo's new process replaces its old one.</summary>
    public IReadOnlyList<ServerProcess> Silos => _silos;

    public LoadBalancer Balancer => _balancer ?? throw new InvalidOperationException("The cluster has not started.");

    /// <summary>The bootstrap admin's password, the same on every silo.</summary>
    public string AdminPassword { get; }

    /// <summary>
    /// Starts <paramref name="silos"/> silos at once and HAProxy in front of them, and returns when the balancer
    /// holds every one of them up. <paramref name="environment"/> goes to every silo, over the defaults. With
    /// <paramref name="gateways"/> each silo also opens an Orleans gateway, so a test can ask the cluster itself
    /// (e.g. where a grain is active); production keeps them off.
    /// </summary>
    public static async Task<SiloCluster> StartAsync(
        string connectionString, string clusterId, int silos, IReadOnlyDictionary<string, string?>? environment = null, bool gateways = false)
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            // The balancer connects from loopback: its X-Forwarded-For names the client.
            ["Sensors360__Http__KnownProxies__0"] = "127.0.0.1",
            // The server's default drain delay, which the balancer's checks are sized to (not ServerProcess's none).
            ["Sensors360__Http__DrainDelay"] = null,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            settings[name] = value;
        }

        var cluster = new SiloCluster(connectionString, clusterId, settings, silos, gateways);
        try
        {
            for (var i = 0; i < silos; i++)
            {
                cluster._silos[i] = cluster.StartSilo(i);
            }

            await Task.WhenAll(cluster._silos.Select(silo => silo.WaitUntilReadyAsync()));
            cluster._balancer = await LoadBalancer.StartAsync([.. cluster._ports.Select(port => $"127.0.0.1:{port.Http}")]);
            for (var i = 0; i < silos; i++)
            {
                await cluster._balancer.WaitForAsync(LoadBalancer.ServerName(i), "UP", UpTimeout);
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The silo's address in Orleans' membership (advertised address and silo port).</summary>
    public string SiloEndpoint(int index) => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{_ports[index].Silo}");

    /// <summary>Starts the silo again on its ports (after it exited) and waits until the balancer holds it up.</summary>
    public async Task RestartAsync(int index)
    {
        if (!_silos[index].HasExited)
        {
            throw new InvalidOperationException($"Silo {index} is still running.");
        }

        await _silos[index].DisposeAsync();
        _silos[index] = StartSilo(index);
        await _silos[index].WaitUntilReadyAsync();
        await Balancer.WaitForAsync(LoadBalancer.ServerName(index), "UP", UpTimeout);
    }

    private ServerProcess StartSilo(int index)
    {
        var environment = new Dictionary<string, string?>(_environment, StringComparer.Ordinal);
        if (_gateways[index] is { } gateway)
        {
            environment["Sensors360__Cluster__GatewayPort"] = gateway.ToString(CultureInfo.InvariantCulture);
        }

        return ServerProcess.Start(_connectionString, _clusterId, environment, AdminPassword, ports: _ports[index]);
    }

    public async ValueTask DisposeAsync()
    {
        if (_balancer is not null)
        {
            await _balancer.DisposeAsync();
        }

        // Stopped together: each drains for its delay, and one at a time would add those up.
        await Task.WhenAll(_silos.Where(silo => silo is not null).Select(silo => silo.DisposeAsync().AsTask()));
    }
}
