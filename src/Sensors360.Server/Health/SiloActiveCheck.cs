using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Sensors360.Server.Health;

/// <summary>Healthy while this silo is an active member of the cluster.</summary>
internal sealed class SiloActiveCheck(IClusterMembershipService membership, ILocalSiloDetails silo) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo {silo.SiloAddress.Endpoint} is active")
            : HealthCheckResult.Unhealthy($"silo {silo.SiloAddress.Endpoint} is {status.ToString().ToLowerInvariant()}"));
    }
}
