using System.Globalization;
using System.Net;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Cluster;

/// <summary>
/// What a server process listens on, read from the kernel (<c>/proc</c>): its HTTP port and its silo port on
/// the advertised address, and the Orleans gateway only when configured.
/// </summary>
public sealed class ClusterPortsTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task By_default_the_server_listens_on_its_http_port_and_the_silo_port_of_the_advertised_address_only()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(By_default_the_server_listens_on_its_http_port_and_the_silo_port_of_the_advertised_address_only));
        await using var server = ServerProcess.Start(database, "closed-ports");
        await server.WaitUntilReadyAsync();

        var listening = ListeningEndpoints(server.ProcessId);

        // No gateway, and nothing on 0.0.0.0 or [::]: another interface of this host reaches no port of the silo.
        Assert.Equal(
            new[] { $"127.0.0.1:{server.BaseAddress.Port}", $"127.0.0.1:{server.SiloPort}" }.Order(),
            listening.Select(endpoint => endpoint.ToString()).Order());
    }

    [Fact]
    public async Task The_gateway_listens_only_when_its_port_is_set()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(The_gateway_listens_only_when_its_port_is_set));
        var gatewayPort = FreePort.Next();
        await using var server = ServerProcess.Start(database, "gateway-on", new Dictionary<string, string?>
        {
            ["Sensors360__Cluster__GatewayPort"] = gatewayPort.ToString(CultureInfo.InvariantCulture),
        });
        await server.WaitUntilReadyAsync();

        var listening = ListeningEndpoints(server.ProcessId);

        Assert.Contains(new IPEndPoint(IPAddress.Loopback, gatewayPort), listening);
        Assert.DoesNotContain(listening, endpoint => endpoint.Address.Equals(IPAddress.Any) || endpoint.Address.Equals(IPAddress.IPv6Any));
    }

    [Theory]
    [InlineData("Sensors360__Cluster__ClusterId")]
    [InlineData("Sensors360__Cluster__ServiceId")]
    public async Task Without_a_cluster_or_service_id_the_server_exits_with_one_clear_line(string missing)
    {
        var database = await postgres.CreateDatabaseAsync($"no id {missing}");
        await using var server = ServerProcess.Start(database, "no-id", new Dictionary<string, string?> { [missing] = null });

        Assert.NotEqual(0, await server.WaitForExitAsync(ExitTimeout));
        var all = string.Join('\n', server.Output);
        Assert.True(server.Output.Count(line => line.Contains("ClusterId and ServiceId must be set", StringComparison.Ordinal)) == 1, all);
        Assert.DoesNotContain(server.Output, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    /// <summary>The TCP endpoints the process listens on: LISTEN sockets of /proc/net/tcp{,6} whose inode is one of its open files.</summary>
    private static List<IPEndPoint> ListeningEndpoints(int processId)
    {
        var sockets = Directory.EnumerateFiles($"/proc/{processId}/fd")
            .Select(fd => new FileInfo(fd).LinkTarget)
            .Where(target => target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
            .Select(target => target![8..^1])
            .ToHashSet();

        var endpoints = new List<IPEndPoint>();
        foreach (var table in new[] { $"/proc/{processId}/net/tcp", $"/proc/{processId}/net/tcp6" })
        {
            foreach (var row in File.ReadLines(table).Skip(1))
            {
                var columns = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                const string Listen = "0A";
                if (columns[3] == Listen && sockets.Contains(columns[9]))
                {
                    endpoints.Add(ParseEndpoint(columns[1]));
                }
            }
        }

        return endpoints;
    }

    /// <summary>"0100007F:2B67": the address as the kernel's 32-bit words in host (little-endian) order, then the port in hex.</summary>
    private static IPEndPoint ParseEndpoint(string text)
    {
        var (address, port) = (text[..text.IndexOf(':', StringComparison.Ordinal)], text[(text.IndexOf(':', StringComparison.Ordinal) + 1)..]);
        var bytes = Convert.FromHexString(address);
        for (var word = 0; word < bytes.Length; word += 4)
        {
            Array.Reverse(bytes, word, 4);
        }

        var ip = new IPAddress(bytes);
        return new IPEndPoint(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip, int.Parse(port, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
    }
}
