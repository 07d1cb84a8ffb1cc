using System.Net;
using System.Net.Sockets;

namespace Sensors360.Testing;

/// <summary>
/// An HTTP handler whose connections leave from a chosen local address (any 127.x.y.z reaches this machine),
/// so a test can be several clients by address: limits kept per client, the address a balancer forwards.
/// </summary>
public static class BoundSocketsHandler
{
    public static SocketsHttpHandler From(string localAddress)
    {
        var local = IPAddress.Parse(localAddress);
        return new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(local.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.Bind(new IPEndPoint(local, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
    }
}
