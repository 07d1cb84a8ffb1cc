namespace Sensors360.Server.Cluster;

/// <summary>Settings under <c>Sensors360:Cluster</c>: which cluster this silo joins, on which ports, and how silos trust each other.</summary>
public sealed class ClusterSettings
{
    public const string Section = "Sensors360:Cluster";

    /// <summary>
    /// Silos with the same cluster id (and database) form one cluster. Required: a well-known default would
    /// let a stray or hostile silo on the same database join by accident.
    /// </summary>
    public string? ClusterId { get; set; }

    /// <summary>Names the service across deployments; grain state and reminders are keyed by it. Required.</summary>
    public string? ServiceId { get; set; }

    /// <summary>Port for silo-to-silo traffic, bound on <see cref="AdvertisedAddress"/> only.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>
    /// Port for Orleans clients. Off (null) unless set: the server never uses it, and a client that reaches
    /// it could call any grain directly.
    /// </summary>
    public int? GatewayPort { get; set; }

    /// <summary>The IP other silos reach this one at, and the only one the silo port listens on; by default the address this host's name resolves to.</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>Silo-to-silo TLS; off unless a certificate is configured.</summary>
    public ClusterTlsSettings Tls { get; set; } = new();
}

/// <summary>Settings under <c>Sensors360:Cluster:Tls</c>.</summary>
public sealed class ClusterTlsSettings
{
    /// <summary>A PKCS#12 (PFX) file with this silo's certificate and private key, and optionally its issuers.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PFX file's password, if it has one.</summary>
    public string? CertificatePassword { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);
}
