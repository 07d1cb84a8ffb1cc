using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Sensors360.Server.Http;
using Sensors360.Server.Operators;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Dashboard;

/// <summary>Settings under <c>Sensors360:Dashboard</c>.</summary>
public sealed class DashboardOptions
{
    public const string Section = "Sensors360:Dashboard";

    /// <summary>Origins (e.g. <c>https://monitor.example.com</c>) allowed besides the request's own host.</summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>
    /// How often each socket's session is looked up again; a socket whose session ended is closed (1008) within
    /// this period. At most a minute, so an ended session never streams for longer.
    /// </summary>
    public TimeSpan SessionCheckPeriod { get; set; } = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan MaxSessionCheckPeriod = TimeSpan.FromMinutes(1);
}

public static partial class DashboardHosting
{
    /// <summary>The silo's dashboard feed (one subscription to the dashboard grain) and its sensor watch.</summary>
    public static WebApplicationBuilder AddDashboard(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<DashboardOptions>()
            .Bind(builder.Configuration.GetSection(DashboardOptions.Section))
            .Validate(options => options.SessionCheckPeriod > TimeSpan.Zero && options.SessionCheckPeriod <= DashboardOptions.MaxSessionCheckPeriod,
                $"{DashboardOptions.Section}:SessionCheckPeriod must be more than 0 and at most {DashboardOptions.MaxSessionCheckPeriod}.");
        builder.Services.AddSingleton<FeedSessions>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<FeedSessions>());
        builder.Services.AddSingleton<DashboardFeed>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<DashboardFeed>());
        builder.Services.AddSingleton<SensorWatch>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<SensorWatch>());
        return builder;
    }

    /// <summary>The web page (wwwroot): public, served before authentication; everything it calls needs the session.</summary>
    public static WebApplication UseDashboardPage(this WebApplication app)
    {
        app.UseDefaultFiles();
        app.UseStaticFiles();
        return app;
    }

    /// <summary><c>GET /ws/dashboard</c> (docs/websocket.md), with the WebSocket middleware it needs.</summary>
    public static WebApplication MapDashboardFeed(this WebApplication app)
    {
        // Switched on here because the feed is its only user. WebApplication runs middleware added at any
        // point before Run ahead of the endpoints, so this is in time for the upgrade in AcceptAsync.
        // No WebSocket keep-alive: it is a timer per socket, and with 10,000 sockets the timers and their pongs took
        // about 0.03 cores, a tenth of the feed's cost. The feed's snapshots keep each socket busy instead
        // (DashboardFeed.KeepAlive).
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
        app.MapGet("/ws/dashboard", AcceptAsync).RequireAuthorization(OperatorPolicies.Viewer);
        return app;
    }

    /// <summary>Who may connect: any signed-in operator whom the endpoint's authorization policy admits, re-checked while connected.</summary>
    private static async Task<IResult> AcceptAsync(
        HttpContext http, DashboardFeed feed, SensorWatch watch, FeedSessions sessions, IOptions<DashboardOptions> options,
        IAuthorizationPolicyProvider policies, ServerDrain drain, TimeProvider time, ILoggerFactory loggers)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            return Problem(400, "WebSocket upgrade required", "Connect to /ws/dashboard with a WebSocket client.");
        }

        // Browsers send cookies with cross-site WebSocket requests; the origin check keeps other sites out.
        if (!IsAllowedOrigin(http.Request, options.Value))
        {
            return Problem(403, "Origin not allowed", "The page must be served by this server or from an origin in Sensors360:Dashboard:AllowedOrigins.");
        }

        if (OperatorSessionStore.SessionKeyOf(http) is not { } sessionKey)
        {
            return Problem(401, "Not logged in", "The feed needs an operator session; log in with POST /api/auth/login.");
        }

        // Reserved before the upgrade, so a session over its limit is refused with a plain HTTP answer.
        using var lease = sessions.TryOpen(sessionKey, await FeedPolicyAsync(http, policies));
        if (lease is null)
        {
            return Problem(429, "Too many dashboard sockets",
                $"A session may hold at most {FeedSessions.MaxSocketsPerSession} dashboard sockets on one server; close one first.");
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        using var connection = new DashboardSocket(socket, feed, watch, time, loggers.CreateLogger<DashboardSocket>());
        // Closed (1001) when the drain delay is over, not at SIGTERM: by then the balancer sends reconnects elsewhere.
        await connection.RunAsync(lease.Ended, drain.Closing);
        return Results.Empty;
    }

    /// <summary>The policy this request was authorized with (the endpoint's, else the fallback), to check the session against later.</summary>
    private static async Task<AuthorizationPolicy> FeedPolicyAsync(HttpContext http, IAuthorizationPolicyProvider policies)
    {
        var metadata = http.GetEndpoint()?.Metadata;
        var policy = metadata is null
            ? null
            : await AuthorizationPolicy.CombineAsync(policies, metadata.GetOrderedMetadata<IAuthorizeData>(), metadata.GetOrderedMetadata<AuthorizationPolicy>());
        return policy
            ?? await policies.GetFallbackPolicyAsync()
            ?? new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build();
    }

    private static bool IsAllowedOrigin(HttpRequest request, DashboardOptions options)
    {
        var origin = request.Headers.Origin.ToString();
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri))
        {
            return false;
        }

        return string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase)
            || options.AllowedOrigins.Any(allowed => string.Equals(allowed.TrimEnd('/'), origin.TrimEnd('/'), StringComparison.OrdinalIgnoreCase));
    }
}
