using Xunit;


namespace Sensors360.Testing;

/// <summary>A class fixture: one server on its own database, shared by a test class whose tests use distinct sensor ids.</summary>
public sealed class RunningServer(ThrowawayPostgres postgres) : IAsyncLifetime
{
    private ServerProcess? _server;

    public ServerProcess Server => _server ?? throw new InvalidOperationException("Not started.");

    public string ConnectionString { get; private set; } = "";

    /// <summary>A client logged in as the bootstrap admin.</summary>
    public HttpClient Operator { get; private set; } = null!;

    /// <summary>The session cookie of <see cref="Operator"/>, e.g. for WebSocket clients (logging in per test would trip the rate limit).</summary>
    public System.Net.CookieContainer OperatorCookies { get; } = new();

    public async ValueTask InitializeAsync()
    {
        ConnectionString = await postgres.CreateDatabaseAsync(nameof(RunningServer));
        _server = ServerProcess.Start(ConnectionString, $"fixture-{Guid.NewGuid():N}", new Dictionary<string, string?>
        {
            // Short enough for alerts to appear within a test, long enough never to fire by accident.
            ["Sensors360__Monitoring__SilenceThreshold"] = "00:00:02",
            ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
        });
        await _server.WaitUntilReadyAsync();
        Operator = await _server.LoginAsync(cookies: OperatorCookies);
    }

    public async ValueTask DisposeAsync()
    {
        Operator?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
