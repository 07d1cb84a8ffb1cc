using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Sensors360.Testing;

/// <summary>
/// A TLS server certificate for 127.0.0.1 and localhost, made as <c>build.ps1 run -Https</c> makes its own, and
/// kept as a password-protected PFX file for Kestrel (<c>Kestrel__Certificates__Default__Path</c>).
/// </summary>
public sealed class SelfSignedCertificate : IDisposable
{
    private readonly string _directory;

    private SelfSignedCertificate(string directory, string path, string password, X509Certificate2 certificate)
    {
        _directory = directory;
        Path = path;
        Password = password;
        Certificate = certificate;
    }

    public string Path { get; }

    public string Password { get; }

    public X509Certificate2 Certificate { get; }

    public static SelfSignedCertificate Create()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));

        var password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        var directory = Directory.CreateTempSubdirectory("sensors360-tls-").FullName;
        var path = System.IO.Path.Combine(directory, "server.pfx");
        var pfx = created.Export(X509ContentType.Pfx, password);
        File.WriteAllBytes(path, pfx);
        return new SelfSignedCertificate(directory, path, password, X509CertificateLoader.LoadCertificate(created.RawData));
    }

    /// <summary>Whether the server presented exactly this certificate: clients trust it and nothing else.</summary>
    public bool IsPresentedBy(X509Certificate2? presented) =>
        presented is not null && presented.RawData.AsSpan().SequenceEqual(Certificate.RawData);

    public void Dispose()
    {
        Certificate.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
