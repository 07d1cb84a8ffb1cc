using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Sensors;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Sensors;

/// <summary>
/// <c>POST /api/sensors/{id}/heartbeat</c>: the sensors' one route. A 204 means the heartbeat is committed
/// to the database; every other outcome is a problem body and nothing stored.
/// </summary>
public static class HeartbeatsApi
{
    private const string RetryAfterSeconds = "5";

    public static IEndpointRouteBuilder MapHeartbeats(this IEndpointRouteBuilder app)
    {
        // Sensors authenticate with their own bearer token, checked by the sensor grain, not with a session.
        app.MapPost("/api/sensors/{id}/heartbeat", ReceiveAsync).AllowAnonymous();
        return app;
    }

    /// <summary>The whole heartbeat path, from the request to the sensor grain's answer.</summary>
    internal static async Task<Results<NoContent, ProblemHttpResult>> ReceiveAsync(
        string id,
        HttpContext http,
        IGrainFactory grains,
        [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock)
    {
        // The server's receive time is the heartbeat's time, taken before anything can queue.
        var receivedAt = clock.GetUtcNow();
        var request = http.Request;
        if (!SensorIds.IsValid(id))
        {
            return Problem(400, "Invalid sensor id", $"id must be {SensorIds.Rule}");
        }

        if (!TryGetBearerToken(request, out var token))
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return Unauthorized();
        }

        if (request.ContentLength > HeartbeatBody.MaxBytes)
        {
            return TooLarge();
        }

        var body = await ReadBodyAsync(request, http.RequestAborted);
        if (body is null)
        {
            return TooLarge();
        }

        string? metricsJson = null;
        if (body.Length > 0)
        {
            if (!IsJson(request.ContentType))
            {
                return Problem(415, "Unsupported media type", "A heartbeat body must be JSON (Content-Type: application/json).");
            }

            if (!HeartbeatBody.TryParse(body, out metricsJson, out var error))
            {
                return Problem(400, "Invalid heartbeat body", error);
            }
        }

        HeartbeatResult result;
        try
        {
            result = await grains.GetGrain<ISensorGrain>(id).Heartbeat(new HeartbeatReport(SensorTokens.Hash(token), receivedAt, metricsJson));
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or SiloUnavailableException)
        {
            result = HeartbeatResult.Unavailable;
        }

        switch (result)
        {
            case HeartbeatResult.Stored:
                return TypedResults.NoContent();
            case HeartbeatResult.Retired:
                return Problem(410, "Sensor retired", $"Sensor '{id}' is retired and takes no more heartbeats.");
            case HeartbeatResult.Unavailable:
                http.Response.Headers.RetryAfter = RetryAfterSeconds;
                return Problem(503, "Heartbeat not stored", "The database cannot take the write right now; nothing was stored. Retry later.");
            default:
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return Unauthorized();
        }
    }

    // Same answer for a wrong token, a missing one and an unknown sensor: ids cannot be probed.
    private static ProblemHttpResult Unauthorized() =>
        Problem(401, "Unauthorized", "Send the sensor's token as 'Authorization: Bearer <token>'.");

    private static ProblemHttpResult TooLarge() =>
        Problem(413, "Body too large", $"A heartbeat body may be at most {HeartbeatBody.MaxBytes} bytes.");

    private static bool TryGetBearerToken(HttpRequest request, out string token)
    {
        token = "";
        var header = request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        token = header[Scheme.Length..].Trim();
        return token.Length is > 0 and <= 256;
    }

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.MediaType.Value?.EndsWith("+json", StringComparison.OrdinalIgnoreCase) == true);

    /// <summary>Reads at most <see cref="HeartbeatBody.MaxBytes"/>; null when the body is longer (also when chunked).</summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var buffer = new byte[HeartbeatBody.MaxBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
        }

        return length > HeartbeatBody.MaxBytes ? null : buffer[..length];
    }
}
