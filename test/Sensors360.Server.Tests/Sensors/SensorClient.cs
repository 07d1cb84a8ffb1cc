using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>What tests do over HTTP: provision sensors as an operator, send heartbeats as a sensor.</summary>
internal static class SensorClient
{
    public static async Task<(JsonElement Sensor, string Token)> ProvisionAsync(HttpClient operatorClient, string id, object? extra = null)
    {
        using var response = await operatorClient.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), extra ?? new { id });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, $"Provisioning {id}: {(int)response.StatusCode} {body}");
        var sensor = JsonDocument.Parse(body).RootElement.Clone();
        return (sensor, sensor.GetProperty("token").GetString()!);
    }

    /// <summary>A heartbeat as a sensor sends it (<see cref="SensorHeartbeats.SendAsync"/>): the answer, whatever it is.</summary>
    public static Task<HttpResponseMessage> HeartbeatAsync(
        HttpClient client, string id, string? token, string? body = null, string contentType = "application/json") =>
        SensorHeartbeats.SendAsync(client, id, token, body, contentType);

    /// <summary>Sends a heartbeat that must be stored: fails unless it is answered 204.</summary>
    public static Task StoredHeartbeatAsync(HttpClient client, string id, string token) => SensorHeartbeats.StoredAsync(client, id, token);

    /// <summary>Asserts an error response: the status and an RFC 9457 problem body.</summary>
    public static async Task AssertProblemAsync(HttpResponseMessage response, int status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"Expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal(status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("title").GetString()));
    }
}
