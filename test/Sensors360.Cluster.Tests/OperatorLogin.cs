using System.Net;
using System.Net.Http.Json;
using Npgsql;

namespace Sensors360.Cluster.Tests;

internal static class OperatorLogin
{
    /// <summary>
    /// A client of <paramref name="address"/> (a silo or the balancer) logged in as the bootstrap admin, its session
    /// cookie in <paramref name="cookies"/>; it sends that address's origin, as the page served from there would.
    /// </summary>
    public static async Task<HttpClient> LoginAsync(Uri address, string password, CookieContainer cookies)
    {
        var client = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromSeconds(30),
        };
        client.DefaultRequestHeaders.Add("Origin", address.GetLeftPart(UriPartial.Authority));
        using var response = await client.PostAsJsonAsync(new Uri("/api/auth/login", UriKind.Relative), new { username = "admin", password });
        if (!response.IsSuccessStatusCode)
        {
            client.Dispose();
            throw new InvalidOperationException($"Login failed with {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        return client;
    }
}

/// <summary>An open silence alert as the database holds it.</summary>
internal sealed record OpenAlert(string Sensor, DateTimeOffset SilentSince, DateTimeOffset RaisedAt);

internal static class Alerts
{
    /// <summary>The open alerts of the named sensors.</summary>
    public static async Task<IReadOnlyList<OpenAlert>> OpenAsync(string database, IEnumerable<string> sensors)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT s.name, a.silent_since, a.raised_at FROM alert a JOIN sensor s ON s.id = a.sensor_id
            WHERE a.resolved_at IS NULL AND s.name = ANY ($1)
            """, connection);
        command.Parameters.AddWithValue(sensors.ToArray());
        await using var reader = await command.ExecuteReaderAsync();
        var alerts = new List<OpenAlert>();
        while (await reader.ReadAsync())
        {
            alerts.Add(new OpenAlert(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetFieldValue<DateTimeOffset>(2)));
        }

        return alerts;
    }
}
