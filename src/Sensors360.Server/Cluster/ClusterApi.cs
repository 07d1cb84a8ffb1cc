using System.Globalization;
using Sensors360.Server.Operators;

namespace Sensors360.Server.Cluster;

public static class ClusterApi
{
    /// <summary><c>GET /api/cluster</c>: the active silos, as the membership table records them.</summary>
    public static IEndpointRouteBuilder MapCluster(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/cluster", GetClusterAsync).WithName("GetCluster").RequireAuthorization(OperatorPolicies.Viewer);
        return app;
    }

    internal static async Task<ClusterView> GetClusterAsync(IGrainFactory grains)
    {
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true);
        var silos = hosts
            .OrderBy(host => host.StartTime)
            .Select(host => new SiloView(
                host.SiloAddress.Endpoint.ToString(),
                host.HostName,
                host.Status.ToString().ToLowerInvariant(),
                host.SiloName,
                new DateTimeOffset(DateTime.SpecifyKind(host.StartTime, DateTimeKind.Utc)).ToString("O", CultureInfo.InvariantCulture)))
            .ToList();
        return new ClusterView(silos);
    }
}

internal sealed record ClusterView(IReadOnlyList<SiloView> Silos);

internal sealed record SiloView(string Address, string HostName, string Status, string Name, string StartedAt);
