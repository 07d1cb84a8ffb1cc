using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Sensors360.Simulator.Server;

/// <summary>An operator logged in to the server (<c>POST /api/auth/login</c>); its session cookie rides on every call.</summary>
internal sealed class OperatorSession : ISensorAdministration, IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http;

    private OperatorSession(HttpClient http) => _http = http;

    public static async Task<OperatorSession> LoginAsync(ServerAccess access, CancellationToken cancellationToken)
    {
        if (access.Password is null)
        {
            throw new SimulatorException(
                $"No password for operator '{access.User}': pass --password, set {OperatorPassword.EnvironmentVariable}, " +
                $"or run where 'build.ps1 run' keeps {OperatorPassword.DataFile}.");
        }

        var http = new HttpClient(new SocketsHttpHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false, UseProxy = false })
        {
            BaseAddress = access.Server,
            Timeout = Timeout,
        };
        // The server refuses cookie-authenticated changes (and logins) that do not come from its own origin, as
        // the page's do; this client is the operator's own, so it says so.
        http.DefaultRequestHeaders.Add("Origin", access.Server.GetLeftPart(UriPartial.Authority));
        try
        {
            using var response = await http.PostAsJsonAsync(
                new Uri("/api/auth/login", UriKind.Relative), new { username = access.User, password = access.Password }, cancellationToken);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                throw new SimulatorException($"Login as '{access.User}' at {access.Server} failed: wrong user or password.");
            }

            await EnsureSuccessAsync(response, $"Login as '{access.User}'", cancellationToken);
            return new OperatorSession(http);
        }
        catch (HttpRequestException e)
        {
            http.Dispose();
            throw new SimulatorException($"Cannot reach the server at {access.Server}: {e.Message}", e);
        }
        catch
        {
            http.Dispose();
            throw;
        }
    }

    public async Task<string?> ProvisionAsync(string id, IReadOnlyList<string> tags, int silenceThresholdSeconds, CancellationToken cancellationToken)
    {
        using var response = await _http.PostAsJsonAsync(
            new Uri("/api/sensors", UriKind.Relative), new { id, tags, silenceThresholdSeconds }, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return null;
        }

        await EnsureSuccessAsync(response, $"Provisioning sensor {id}", cancellationToken);
        return await ReadTokenAsync(response, cancellationToken);
    }

    public async Task<RemoteSensorState> GetStateAsync(string id, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(SensorUri(id, ""), cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return RemoteSensorState.Unknown;
        }

        await EnsureSuccessAsync(response, $"Reading sensor {id}", cancellationToken);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return body.RootElement.GetProperty("status").GetString() == "retired" ? RemoteSensorState.Retired : RemoteSensorState.Active;
    }

    public async Task RetireAsync(string id, CancellationToken cancellationToken)
    {
        using var response = await _http.PostAsync(SensorUri(id, "/retire"), content: null, cancellationToken);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccessAsync(response, $"Retiring sensor {id}", cancellationToken);
        }
    }

    public async Task<string> RotateTokenAsync(string id, CancellationToken cancellationToken)
    {
        using var response = await _http.PostAsync(SensorUri(id, "/token"), content: null, cancellationToken);
        await EnsureSuccessAsync(response, $"Rotating the token of sensor {id}", cancellationToken);
        return await ReadTokenAsync(response, cancellationToken);
    }

    public void Dispose() => _http.Dispose();

    private static Uri SensorUri(string id, string suffix) => new($"/api/sensors/{Uri.EscapeDataString(id)}{suffix}", UriKind.Relative);

    private static async Task<string> ReadTokenAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return body.RootElement.GetProperty("token").GetString()
            ?? throw new SimulatorException($"{response.RequestMessage?.RequestUri} answered without a token.");
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new SimulatorException($"{what} failed with {(int)response.StatusCode}: {body}");
        }
    }
}
