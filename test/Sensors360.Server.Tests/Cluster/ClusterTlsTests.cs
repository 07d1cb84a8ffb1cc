using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Cluster;

/// <summary>
/// Silo-to-silo TLS between real server processes: silos holding the cluster certificate form one cluster;
/// a silo without it, or with another certificate, never becomes an active member.
/// </summary>
public sealed class ClusterTlsTests(ThrowawayPostgres postgres) : IDisposable
{
    private const string Password = "cluster-pfx-password";

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private readonly DirectoryInfo _certificates = Directory.CreateTempSubdirectory("sensors360-cluster-tls-");

    [Fact]
    public async Task Silos_with_the_cluster_certificate_form_one_cluster_and_silos_without_it_never_join()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Silos_with_the_cluster_certificate_form_one_cluster_and_silos_without_it_never_join));
        var cluster = WriteSelfSignedPfx("cluster.pfx", "CN=sensors360-cluster");
        var other = WriteSelfSignedPfx("other.pfx", "CN=sensors360-cluster");

        await using var first = ServerProcess.Start(database, "tls", Tls(cluster));
        await using var second = ServerProcess.Start(database, "tls", Tls(cluster), adminPassword: first.AdminPassword);
        await Task.WhenAll(first.WaitUntilReadyAsync(), second.WaitUntilReadyAsync());
        string[] members = [$"127.0.0.1:{first.SiloPort}", $"127.0.0.1:{second.SiloPort}"];
        foreach (var server in new[] { first, second })
        {
            var view = await Eventually.MatchesAsync(server.GetClusterAsync, view => view.Silos.Count == 2, Patience, $"{server.BaseAddress} lists both TLS silos");
            Assert.Equal(members.Order(), view.Silos.Select(silo => silo.Address).Order());
            Assert.All(view.Silos, silo => Assert.Equal("active", silo.Status));
        }

        // Same database, same cluster id; only the certificate differs (none, or one with the same subject from another key).
        await using var plain = ServerProcess.Start(database, "tls", adminPassword: first.AdminPassword);
        await using var impostor = ServerProcess.Start(database, "tls", Tls(other), adminPassword: first.AdminPassword);
        foreach (var outsider in new[] { plain, impostor })
        {
            await Eventually.TrueAsync(
                () => Task.FromResult(outsider.HasExited || outsider.Output.Any(line => line.Contains("Failed to get ping responses", StringComparison.Ordinal))),
                Patience,
                $"silo {outsider.SiloPort} fails to reach the TLS silos");
            if (outsider.HasExited)
            {
                Assert.NotEqual(0, outsider.ExitCode);
            }
            else
            {
                // Kestrel starts only once the silo has joined, so the refused connection is the usual answer.
                Assert.NotEqual(System.Net.HttpStatusCode.OK, await ReadyzAsync(outsider));
            }
        }

        // The two keep working as before: still exactly each other, both active.
        foreach (var server in new[] { first, second })
        {
            var view = await server.GetClusterAsync();
            Assert.Equal(members.Order(), view.Silos.Select(silo => silo.Address).Order());
            Assert.All(view.Silos, silo => Assert.Equal("active", silo.Status));
        }
    }

    [Fact]
    public async Task A_cluster_certificate_that_cannot_be_read_stops_the_server_with_one_clear_line()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_cluster_certificate_that_cannot_be_read_stops_the_server_with_one_clear_line));
        var pfx = WriteSelfSignedPfx("wrong-password.pfx", "CN=sensors360-cluster");
        var environment = Tls(pfx);
        environment["Sensors360__Cluster__Tls__CertificatePassword"] = "not the password";

        await using var server = ServerProcess.Start(database, "tls-bad", environment);

        Assert.NotEqual(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var all = string.Join('\n', server.Output);
        Assert.True(server.Output.Count(line => line.Contains("Tls:CertificatePath: cannot read the PFX file", StringComparison.Ordinal)) == 1, all);
        Assert.DoesNotContain(server.Output, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    private static async Task<System.Net.HttpStatusCode?> ReadyzAsync(ServerProcess server)
    {
        try
        {
            using var readyz = await server.Http.GetAsync(new Uri("/readyz", UriKind.Relative), TestContext.Current.CancellationToken);
            return readyz.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    public void Dispose() => _certificates.Delete(recursive: true);

    private static Dictionary<string, string?> Tls(string pfx) => new()
    {
        ["Sensors360__Cluster__Tls__CertificatePath"] = pfx,
        ["Sensors360__Cluster__Tls__CertificatePassword"] = Password,
    };

    /// <summary>A self-signed certificate with its key, as an operator would make one for a cluster, written as a password-protected PFX.</summary>
    private string WriteSelfSignedPfx(string fileName, string subject)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var now = TimeProvider.System.GetUtcNow();
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        var path = Path.Combine(_certificates.FullName, fileName);
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, Password));
        return path;
    }
}
