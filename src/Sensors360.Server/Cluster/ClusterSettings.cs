namespace Sensors360.Server.Cluster;

/// <summary>Settings under <c>Sensors360:Cluster</c>: which cluster this silo joins, and on which ports.</summary>
public sealed class ClusterSettings
{
    public const string Section = "Sensors360:Cluster";

    /// <summary>Silos with the same cluster id (and database) form one cluster.</summary>
    public string ClusterId { get; set; } = "sensors360";

    /// <summary>Names the service across deployments; grain state and reminders are keyed by it.</summary>
    public string ServiceId { get; set; } = "sensors360";

    /// <summary>Port for silo-to-silo traffic.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port for Orleans clients.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The IP other silos reach this one at; by default the address this host's name resolves to.</summary>
    public string? AdvertisedAddress { get; set; }
}
