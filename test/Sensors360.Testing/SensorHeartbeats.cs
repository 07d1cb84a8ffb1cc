using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Sensors360.Testing;

/// <summary>What a sensor sends in tests, over the real heartbeat route: the one place its request is built.</summary>
public static class SensorHeartbeats
{
    /// <summary>
    /// <c>POST /api/sensors/{id}/heartbeat</c> with the bearer <paramref name="token"/> (none when null) and
    /// <paramref name="body"/> (none when null) of <paramref name="contentType"/>; the answer, whatever it is.
    /// </summary>
    public static async Task<HttpResponseMessage> SendAsync(
        HttpClient client, string id, string? token, string? body = null, string contentType = "application/json",
        CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/api/sensors/{id}/heartbeat", UriKind.Relative));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        return await client.SendAsync(request, cancellationToken);
    }

    /// <summary>Sends a heartbeat that must be stored: throws, with the answer's status and body, unless it is a 204.</summary>
    public static async Task StoredAsync(HttpClient client, string id, string token)
    {
        using var response = await SendAsync(client, id, token);
        if (response.StatusCode != HttpStatusCode.NoContent)
        {
            throw new HttpRequestException(
                $"Heartbeat of {id}: expected 204, got {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}",
                inner: null,
                response.StatusCode);
        }
    }
}
