using System.Net;
using System.Net.Sockets;

namespace Sensors360.Testing;

/// <summary>Hands out TCP ports that were free a moment ago, never the same one twice in a process.</summary>
public static class FreePort
{
    private static readonly HashSet<int> Given = [];

    public static int Next()
    {
        lock (Given)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                if (Given.Add(port))
                {
                    return port;
                }
            }
        }
    }
}
