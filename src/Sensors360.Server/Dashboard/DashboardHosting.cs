using Microsoft.Extensions.Options;
using Sensors360.Server.Operators;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Dashboard;

/// <summary>Settings under <c>Sensors360:Dashboard</c>.</summary>
public sealed class DashboardOptions
{
    public const string Section = "Sensors360:Dashboard";

    /// <summary>Origins (e.g. <c>https://monitor.example.com</c>) allowed besides the request's own host.</summary>
    public string[] AllowedOrigins { get; set; } = [];
}

public static partial class DashboardHosting
{
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(20);

    /// <summary>The silo's dashboard feed (one subscription to the dashboard grain) and its sensor watch.</summary>
    public static WebApplicationBuilder AddDashboard(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<DashboardOptions>(builder.Configuration.GetSection(DashboardOptions.Section));
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
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = KeepAlive });
        app.MapGet("/ws/dashboard", AcceptAsync).RequireAuthorization(OperatorPolicies.Viewer);
        return app;
    }

    private static async Task<IResult> AcceptAsync(
        HttpContext http, DashboardFeed feed, SensorWatch watch, IOptions<DashboardOptions> options,
        IHostApplicationLifetime lifetime, ILoggerFactory loggers)
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

        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        using var connection = new DashboardSocket(socket, feed, watch, loggers.CreateLogger<DashboardSocket>());
        await connection.RunAsync(lifetime.ApplicationStopping);
        return Results.Empty;
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
