using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Sensors360.Server.Cluster;

/// <summary>
/// The certificate a silo proves itself with on silo-to-silo connections, and the rule a peer's certificate
/// must pass: it chains to a root certificate inside this silo's own PFX. With one self-signed certificate
/// shared by every silo, the peer must hold that very certificate; with a private CA, the PFX carries the CA
/// (without its key) beside the silo's own certificate, and any silo certificate that CA issued is accepted.
/// </summary>
public sealed class ClusterCertificate : IDisposable
{
    private readonly X509Certificate2Collection _pfx;
    private readonly X509Certificate2Collection _roots;
    private readonly TimeProvider _time;

    private ClusterCertificate(X509Certificate2 local, X509Certificate2Collection pfx, X509Certificate2Collection roots, TimeProvider time)
    {
        Local = local;
        _pfx = pfx;
        _roots = roots;
        _time = time;
    }

    /// <summary>This silo's certificate, with its private key.</summary>
    public X509Certificate2 Local { get; }

    /// <summary>Reads the PFX named by the settings; a <see cref="ClusterCertificateException"/> says in one line what is wrong with it.</summary>
    public static ClusterCertificate Load(ClusterTlsSettings settings, TimeProvider time)
    {
        var path = settings.CertificatePath ?? throw new ClusterCertificateException($"{ClusterSettings.Section}:Tls:CertificatePath is not set.");
        X509Certificate2Collection pfx;
        try
        {
            pfx = X509CertificateLoader.LoadPkcs12CollectionFromFile(path, settings.CertificatePassword);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ClusterCertificateException(
                $"{ClusterSettings.Section}:Tls:CertificatePath: cannot read the PFX file {path} (wrong file or CertificatePassword?): {e.Message.ReplaceLineEndings(" ")}");
        }

        var local = pfx.FirstOrDefault(certificate => certificate.HasPrivateKey);
        var roots = new X509Certificate2Collection(pfx.Where(IsSelfIssued).ToArray());
        if (local is null || roots.Count == 0)
        {
            foreach (var certificate in pfx)
            {
                certificate.Dispose();
            }

            throw new ClusterCertificateException(local is null
                ? $"{ClusterSettings.Section}:Tls:CertificatePath: {path} holds no certificate with its private key."
                : $"{ClusterSettings.Section}:Tls:CertificatePath: {path} holds no root (self-signed) certificate to recognize the other silos by.");
        }

        return new ClusterCertificate(local, pfx, roots, time);
    }

    /// <summary>True when the peer's certificate chains to one of this silo's roots; host names are not checked, since silos meet by IP address.</summary>
    public bool IsTrustedPeer(X509Certificate2 peer)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
        chain.ChainPolicy.ExtraStore.AddRange(_pfx);
        // A private cluster CA publishes no revocation list; a silo is shut out by replacing the CA or the shared certificate.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        return chain.Build(peer);
    }

    public void Dispose()
    {
        foreach (var certificate in _pfx)
        {
            certificate.Dispose();
        }
    }

    private static bool IsSelfIssued(X509Certificate2 certificate) =>
        certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);
}

/// <summary>The configured cluster certificate cannot be used; the message names the setting and the reason.</summary>
public sealed class ClusterCertificateException(string message) : Exception(message);
