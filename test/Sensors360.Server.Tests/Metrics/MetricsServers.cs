using Sensors360.Testing;

namespace Sensors360.Server.Tests.Metrics;

/// <summary>A server with a metrics token that trusts forwarded headers from 127.0.0.1 (a balancer on this host).</summary>
public sealed class TokenMetricsServer(ThrowawayPostgres postgres) : IAsyncLifetime
{
    public const string Token = "metrics-token-for-the-tests-0123456789";

    public ServerProcess Server { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Server = ServerProcess.Start(await postgres.CreateDatabaseAsync(nameof(TokenMetricsServer)), "metrics-token", new Dictionary<string, string?>
        {
            ["Sensors360__Metrics__Token"] = Token,
            ["Sensors360__Http__KnownProxies__0"] = "127.0.0.1",
        });
        await Server.WaitUntilReadyAsync();
    }

    public ValueTask DisposeAsync() => Server?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>
/// A server without a metrics token that trusts forwarded headers only from 127.0.0.2, so a request from
/// 127.0.0.1 that carries them came through a proxy it does not trust (e.g. a balancer on this host it was not told of).
/// </summary>
public sealed class LoopbackOnlyMetricsServer(ThrowawayPostgres postgres) : IAsyncLifetime
{
    public const string TrustedProxy = "127.0.0.2";

    public ServerProcess Server { get; private set; } = null!;

    public HttpClient Operator { get; private set; } = null!;

    public System.Net.CookieContainer OperatorCookies { get; } = new();

    public async ValueTask InitializeAsync()
    {
        Server = ServerProcess.Start(await postgres.CreateDatabaseAsync(nameof(LoopbackOnlyMetricsServer)), "metrics-loopback", new Dictionary<string, string?>
        {
            ["Sensors360__Http__KnownProxies__0"] = TrustedProxy,
            // Short, so a silent sensor's alert shows in the open-alerts gauge within a test.
            ["Sensors360__Monitoring__SilenceThreshold"] = "00:00:02",
            ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
        });
        await Server.WaitUntilReadyAsync();
        Operator = await Server.LoginAsync(cookies: OperatorCookies);
    }

    public async ValueTask DisposeAsync()
    {
        Operator?.Dispose();
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }
}
