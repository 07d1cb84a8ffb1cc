using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Sensors360.Abstractions.Sensors;
using Sensors360.Server.Cluster;

namespace Sensors360.Cluster.Tests;

/// <summary>
/// Where sensors' grains are active, asked of the running cluster through an Orleans client and the management
/// grain (the silos must have their gateways on): the test's way to know which sensors a killed silo held.
/// </summary>
internal static class GrainLocations
{
    /// <summary>Each sensor's silo (advertised address and silo port), or null when its grain is not active.</summary>
    public static async Task<IReadOnlyDictionary<string, string?>> OfSensorsAsync(string database, string clusterId, IEnumerable<string> sensors)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseAdoNetClustering(options =>
            {
                options.Invariant = OrleansOnPostgres.Invariant;
                options.ConnectionString = database;
            });
            client.Configure<ClusterOptions>(options =>
            {
                options.ClusterId = clusterId;
                options.ServiceId = clusterId;
            });
        });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var grains = host.Services.GetRequiredService<IClusterClient>();
            var management = grains.GetGrain<IManagementGrain>(0);
            var locations = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var sensor in sensors)
            {
                var silo = await management.GetActivationAddress(grains.GetGrain<ISensorGrain>(sensor));
                locations[sensor] = silo?.Endpoint.ToString();
            }

            return locations;
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
