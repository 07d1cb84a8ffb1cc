using System.Net;
using Sensors360.Testing;

namespace Sensors360.Server.Tests;

/// <summary>
/// HTTP clients that reach the server from another loopback address (127.x.y.z all lead to this machine), so
/// limits kept per client address can be shown to hold per address, and tests do not use up each other's.
/// </summary>
internal static class LoopbackClient
{
    public static HttpClient From(string localAddress, Uri baseAddress, CookieContainer? cookies = null)
    {
        var handler = BoundSocketsHandler.From(localAddress);
        handler.CookieContainer = cookies ?? new CookieContainer();
        handler.UseCookies = true;
        handler.AllowAutoRedirect = false;
        var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        // The page's own origin, as a browser sends it, so logins and changes pass the cross-site check.
        client.DefaultRequestHeaders.Add("Origin", baseAddress.GetLeftPart(UriPartial.Authority));
        return client;
    }
}
