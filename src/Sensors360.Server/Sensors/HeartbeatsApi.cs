using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Cluster;
using Sensors360.Server.Http;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Sensors;

/// <summary>
/// <c>POST /api/sensors/{id}/heartbeat</c>, the sensors' live route, and <c>POST /api/sensors/{id}/heartbeats</c>
/// for what a sensor buffered while offline. A 204 means the heartbeats are committed to the database; every
/// other outcome is a problem body and nothing stored.
/// </summary>
public static class HeartbeatsApi
{
    public static IEndpointRouteBuilder MapHeartbeats(this IEndpointRouteBuilder app)
    {
        var ingest = HeartbeatIngest.From(app.ServiceProvider);

        // Sensors authenticate with their own bearer token, checked by the sensor grain, not with a session; what
        // reaches the grain is limited first (HeartbeatGate: per sensor, and per client address for refusals).
        // Short-circuited at routing: they use no cookie, session or origin check, so the
        // middleware after UseRouting is skipped; the edge (forwarded headers, HSTS, security headers) and the problem
        // bodies, which come before routing, still apply (docs/performance.md#the-pipeline).
        app.MapPost("/api/sensors/{id}/heartbeat", (string id, HttpContext http) => ReceiveAsync(id, http, ingest))
            .AllowAnonymous().ShortCircuit();
        // What a sensor buffered while offline, sent once it is back; the same token and the same limits.
        app.MapPost("/api/sensors/{id}/heartbeats", (string id, HttpContext http) => ReceiveBufferedAsync(id, http, ingest))
            .AllowAnonymous().ShortCircuit();
        return app;
    }

    /// <summary>What the heartbeat routes use, the server's singletons: the grains, the gate, the monitoring clock and the retry pauses' clock.</summary>
    internal sealed record HeartbeatIngest(IGrainFactory Grains, HeartbeatGate Gate, TimeProvider Clock, TimeProvider RetryTime)
    {
        // Resolved once, when the routes are mapped: a handler parameter bound from services would open a request
        // service scope for every heartbeat.
        public static HeartbeatIngest From(IServiceProvider services) => new(
            services.GetRequiredService<IGrainFactory>(),
            services.GetRequiredService<HeartbeatGate>(),
            services.GetRequiredKeyedService<TimeProvider>(MonitoringClock.Key),
            services.GetRequiredService<TimeProvider>());
    }

    /// <summary>Most heartbeats one buffered request may carry.</summary>
    public const int MaxBuffered = 1_000;

    /// <summary>A buffered body's size cap: room for <see cref="MaxBuffered"/> heartbeats of 16 long-named metrics each.</summary>
    public const int MaxBufferedBytes = 2 * 1024 * 1024;

    /// <summary>
    /// <c>POST /api/sensors/{id}/heartbeats</c>: <c>{"heartbeats":[{"at":"...","metrics":{...}}]}</c>, the rules of
    /// an import line. All or nothing: one bad item refuses the request (400 naming it); 204 once all are committed.
    /// </summary>
    internal static async Task<IResult> ReceiveBufferedAsync(string id, HttpContext http, HeartbeatIngest ingest)
    {
        var (grains, gate, clock, _) = ingest;
        var now = clock.GetUtcNow();
        var request = http.Request;
        if (RefuseSensorRequest(id, http, out var tokenHash) is { } refused)
        {
            return refused;
        }

        if (Admit(http, gate, id, tokenHash, out var generation) is { } notAdmitted)
        {
            return notAdmitted;
        }

        if (request.ContentLength > MaxBufferedBytes)
        {
            return BufferedTooLarge();
        }

        if (!IsJson(request.ContentType))
        {
            return Problem(415, "Unsupported media type", "Buffered heartbeats are JSON (Content-Type: application/json).");
        }

        var body = await ReadBodyAsync(request, MaxBufferedBytes, http.RequestAborted);
        if (body is null)
        {
            return BufferedTooLarge();
        }

        if (!TryParseBuffered(body, now, out var heartbeats, out var problem))
        {
            return problem;
        }

        HeartbeatResult result;
        try
        {
            // Rejected while a silo left the cluster: tried again (RejectedCall); an import repeated stores nothing twice.
            result = await RejectedCall.RetryAsync(
                static (call, _) => call.Grains.GetSensorGrain(call.Id).ImportHeartbeats(call.TokenHash, call.Heartbeats),
                (Grains: grains, Id: id, TokenHash: tokenHash, Heartbeats: heartbeats),
                ingest.RetryTime);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or SiloUnavailableException)
        {
            result = HeartbeatResult.Unavailable;
        }

        if (result is HeartbeatResult.Unauthorized or HeartbeatResult.UnknownSensor)
        {
            gate.Refused(id, tokenHash, ClientAddress(http), result, generation);
        }

        return Answer(http, id, result);
    }

    private static bool TryParseBuffered(byte[] body, DateTimeOffset now, out BufferedHeartbeat[] heartbeats, out ProblemHttpResult problem)
    {
        heartbeats = [];
        problem = null!;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 5 });
        }
        catch (JsonException e)
        {
            problem = Problem(400, "Invalid body", $"The body is not valid JSON: {e.Message}");
            return false;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("heartbeats", out var items)
                || items.ValueKind != JsonValueKind.Array
                || root.EnumerateObject().Count() != 1)
            {
                problem = Problem(400, "Invalid body", "The body must be {\"heartbeats\":[{\"at\":\"...\",\"metrics\":{...}}]} and nothing else.");
                return false;
            }

            if (items.GetArrayLength() > MaxBuffered)
            {
                problem = Problem(413, "Too many heartbeats", $"At most {MaxBuffered} heartbeats a request; send the rest in further requests.");
                return false;
            }

            var parsed = new BufferedHeartbeat[items.GetArrayLength()];
            var index = 0;
            foreach (var item in items.EnumerateArray())
            {
                if (!HeartbeatBody.TryParsePast(item, withSensor: false, now, out _, out var at, out var metrics, out var error))
                {
                    problem = Problem(400, "Invalid heartbeat", $"heartbeats[{index}]: {error}");
                    return false;
                }

                parsed[index++] = new BufferedHeartbeat(at, metrics);
            }

            heartbeats = parsed;
            return true;
        }
    }

    private static ProblemHttpResult BufferedTooLarge() =>
        Problem(413, "Body too large", $"A buffered heartbeats body may be at most {MaxBufferedBytes} bytes.");

    /// <summary>The whole heartbeat path, from the request to the sensor grain's answer.</summary>
    internal static async Task<IResult> ReceiveAsync(string id, HttpContext http, HeartbeatIngest ingest)
    {
        var (grains, gate, clock, _) = ingest;
        // The server's receive time is the heartbeat's time, taken before anything can queue.
        var receivedAt = clock.GetUtcNow();
        var request = http.Request;
        if (RefuseSensorRequest(id, http, out var tokenHash) is { } refused)
        {
            return refused;
        }

        if (Admit(http, gate, id, tokenHash, out var generation) is { } notAdmitted)
        {
            return notAdmitted;
        }

        if (request.ContentLength > HeartbeatBody.MaxBytes)
        {
            return TooLarge();
        }

        string? metricsJson = null;
        // Most heartbeats carry no body (Content-Length: 0): nothing to read. A body is read into a pooled buffer,
        // not a fresh 4 KiB array per request.
        if (request.ContentLength != 0)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(HeartbeatBody.MaxBytes + 1);
            try
            {
                var length = await ReadIntoAsync(request, buffer.AsMemory(0, HeartbeatBody.MaxBytes + 1), http.RequestAborted);
                if (length > HeartbeatBody.MaxBytes)
                {
                    return TooLarge();
                }

                if (length > 0)
                {
                    if (!IsJson(request.ContentType))
                    {
                        return Problem(415, "Unsupported media type", "A heartbeat body must be JSON (Content-Type: application/json).");
                    }

                    if (!HeartbeatBody.TryParse(buffer.AsSpan(0, length), out metricsJson, out var error))
                    {
                        return Problem(400, "Invalid heartbeat body", error);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        HeartbeatResult result;
        try
        {
            // Rejected while a silo left the cluster: tried again (RejectedCall), as a repeat, so it is never stored twice.
            result = await RejectedCall.RetryAsync(
                static (call, repeated) => call.Grains.GetSensorGrain(call.Id).Heartbeat(repeated ? call.Report with { Repeated = true } : call.Report),
                (Grains: grains, Id: id, Report: new HeartbeatReport(tokenHash, receivedAt, metricsJson)),
                ingest.RetryTime);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or SiloUnavailableException)
        {
            result = HeartbeatResult.Unavailable;
        }

        if (result is HeartbeatResult.Unauthorized or HeartbeatResult.UnknownSensor)
        {
            gate.Refused(id, tokenHash, ClientAddress(http), result, generation);
        }

        return Answer(http, id, result);
    }

    /// <summary>The grain's answer as HTTP, the same for a live heartbeat and buffered ones.</summary>
    private static IResult Answer(HttpContext http, string id, HeartbeatResult result)
    {
        switch (result)
        {
            case HeartbeatResult.Stored:
                return QuietNoContent.Instance;
            case HeartbeatResult.Retired:
                return Problem(410, "Sensor retired", $"Sensor '{id}' is retired and takes no more heartbeats.");
            case HeartbeatResult.Unavailable:
                http.Response.Headers.RetryAfter = UnavailableRetryAfterSeconds;
                return Problem(503, "Heartbeat not stored", "The database cannot take the write right now; nothing was stored. Retry later.");
            default:
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return Unauthorized();
        }
    }

    /// <summary>The gate's verdict as HTTP: null when the request may go on to the grain.</summary>
    private static ProblemHttpResult? Admit(HttpContext http, HeartbeatGate gate, string id, string tokenHash, out long generation)
    {
        switch (gate.Admit(id, tokenHash, ClientAddress(http), out var retryAfter, out generation))
        {
            case HeartbeatAdmission.Pass:
                return null;
            case HeartbeatAdmission.Refused:
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return Unauthorized();
            case HeartbeatAdmission.SensorLimited:
                return TooMany(http, retryAfter, "Too many heartbeats",
                    $"Sensor '{id}' may send at most {gate.MaxHeartbeatsPerSecond} heartbeat requests a second; this one was not stored.");
            default:
                return TooMany(http, retryAfter, "Too many refused heartbeats",
                    "Too many heartbeats from this address named an unknown sensor or a wrong token; nothing was stored.");
        }
    }

    private static ProblemHttpResult TooMany(HttpContext http, TimeSpan retryAfter, string title, string detail)
    {
        var seconds = SetRetryAfter(http.Response, retryAfter);
        return Problem(429, title, $"{detail} Try again in {seconds} s.");
    }

    // Behind forwarded headers (when configured) this is the real client, not the proxy.
    private static System.Net.IPAddress ClientAddress(HttpContext http) => http.Connection.RemoteIpAddress ?? System.Net.IPAddress.None;

    // Same answer for a wrong token, a missing one and an unknown sensor: ids cannot be probed.
    private static ProblemHttpResult Unauthorized() =>
        Problem(401, "Unauthorized", "Send the sensor's token as 'Authorization: Bearer <token>'.");

    private static ProblemHttpResult TooLarge() =>
        Problem(413, "Body too large", $"A heartbeat body may be at most {HeartbeatBody.MaxBytes} bytes.");

    /// <summary>
    /// What every sensor route checks first: a valid id, and a bearer token (else 401 with its challenge). Null when
    /// both are there, with the token's hash, the form the grain compares.
    /// </summary>
    private static ProblemHttpResult? RefuseSensorRequest(string id, HttpContext http, out string tokenHash)
    {
        tokenHash = "";
        if (!SensorIds.IsValid(id))
        {
            return Problem(400, "Invalid sensor id", $"id must be {SensorIds.Rule}");
        }

        if (!TryHashBearerToken(http.Request, out tokenHash))
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return Unauthorized();
        }

        return null;
    }

    private static bool TryHashBearerToken(HttpRequest request, out string tokenHash)
    {
        tokenHash = "";
        var header = request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Hashed from the header itself: the token is never copied into a string of its own.
        var token = header.AsSpan(Scheme.Length).Trim();
        if (token.Length is 0 or > 256)
        {
            return false;
        }

        tokenHash = SensorTokens.Hash(token);
        return true;
    }

    internal static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.MediaType.Value?.EndsWith("+json", StringComparison.OrdinalIgnoreCase) == true);

    /// <summary>Reads at most <paramref name="maxBytes"/>; null when the body is longer (also when chunked).</summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        var buffer = new byte[maxBytes + 1];
        var length = await ReadIntoAsync(request, buffer, cancellationToken);
        return length > maxBytes ? null : buffer[..length];
    }

    /// <summary>Fills <paramref name="buffer"/> from the body until it is full or the body ends; the number of bytes read.</summary>
    private static async Task<int> ReadIntoAsync(HttpRequest request, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await request.Body.ReadAsync(buffer[length..], cancellationToken)) > 0)
        {
            length += read;
        }

        return length;
    }
}
