namespace Sensors360.Simulator.Server;

/// <summary>
/// Heartbeats over HTTP/1.1 keep-alive connections: one <see cref="SocketsHttpHandler"/> for all simulated
/// sensors, with at most <c>maxConnections</c> connections to the server; requests beyond that wait for a free one.
/// </summary>
internal sealed class HttpHeartbeatTransport : IHeartbeatTransport, IDisposable
{
    private readonly HttpClient _http;

    public HttpHeartbeatTransport(int maxConnections, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = maxConnections,
            UseCookies = false,
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
        };
        _http = new HttpClient(handler) { Timeout = timeout };
    }

    public async Task<SendOutcome> SendAsync(Uri target, string? token, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, target);
        if (token is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        }

        if (!body.IsEmpty)
        {
            request.Content = new ReadOnlyMemoryContent(body);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        }

        try
        {
            // The answer's body (a problem on errors) is drained by the handler, so the connection is reused.
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            return new SendOutcome((int)response.StatusCode);
        }
        catch (HttpRequestException e)
        {
            return SendOutcome.Failed(e.HttpRequestError == HttpRequestError.Unknown ? nameof(HttpRequestException) : e.HttpRequestError.ToString());
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return SendOutcome.Failed("Timeout");
        }
    }

    public void Dispose() => _http.Dispose();
}
