namespace Sensors360.Simulator.Server;

/// <summary>Sends one heartbeat-shaped request (<c>POST</c>, optional bearer token, optional JSON body) and reports how it ended.</summary>
internal interface IHeartbeatTransport
{
    /// <summary>Never throws for HTTP or network failures: they come back as a <see cref="SendOutcome"/>.</summary>
    Task<SendOutcome> SendAsync(Uri target, string? token, ReadOnlyMemory<byte> body, CancellationToken cancellationToken);
}

/// <summary>The status code of the answer, or 0 and the kind of transport failure when there was none.</summary>
internal readonly record struct SendOutcome(int StatusCode, string? TransportError = null)
{
    public bool IsSuccess => StatusCode is >= 200 and < 300;

    public static SendOutcome Failed(string transportError) => new(0, transportError);
}
