using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Notifications;

/// <summary>A request a <see cref="WebhookReceiver"/> took, with the exact body bytes (the signature covers them).</summary>
internal sealed record ReceivedRequest(string Path, string? IdempotencyKey, string? Signature, string? ContentType, byte[] Body)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement.Clone();

    public string? Event => Json.TryGetProperty("event", out var name) ? name.GetString() : null;

    public string? SensorId => Json.TryGetProperty("sensor", out var sensor) ? sensor.GetProperty("id").GetString() : null;

    /// <summary>Checks the signature as a receiver would: HMAC-SHA256 of the body with the channel's secret, compared in constant time.</summary>
    public bool IsSignedWith(string secret)
    {
        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Body));
        return Signature is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(Signature));
    }
}

/// <summary>A real HTTP receiver on a loopback port: records every request and answers what <c>answer</c> says.</summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<ReceivedRequest> _requests = new();
    private readonly Func<ReceivedRequest, HttpStatusCode> _answer;
    private readonly Task _loop;

    private WebhookReceiver(int port, Func<ReceivedRequest, HttpStatusCode> answer)
    {
        Address = new Uri($"http://127.0.0.1:{port}/");
        _answer = answer;
        _listener.Prefixes.Add(Address.ToString());
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public Uri Address { get; }

    public IReadOnlyList<ReceivedRequest> Requests => [.. _requests];

    /// <summary>Starts on <paramref name="port"/> (a free one unless given), answering 204 unless <paramref name="answer"/> says otherwise.</summary>
    public static WebhookReceiver Start(int? port = null, Func<ReceivedRequest, HttpStatusCode>? answer = null) =>
        new(port ?? FreePort.Next(), answer ?? (_ => HttpStatusCode.NoContent));

    public string Url(string path) => new Uri(Address, path).ToString();

    public IReadOnlyList<ReceivedRequest> At(string path) => [.. _requests.Where(request => request.Path == "/" + path)];

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var request = new ReceivedRequest(
                context.Request.Url!.AbsolutePath, context.Request.Headers["Idempotency-Key"], context.Request.Headers["X-Sensors360-Signature"],
                context.Request.ContentType, body.ToArray());
            var status = _answer(request);
            _requests.Enqueue(request);
            context.Response.StatusCode = (int)status;
            context.Response.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}
