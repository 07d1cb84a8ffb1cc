using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Sensors360.Server.Http;

/// <summary>
/// Settings under <c>Sensors360:Http</c>: the reverse proxies whose <c>X-Forwarded-For</c> and
/// <c>X-Forwarded-Proto</c> are believed. Empty (the default): those headers are ignored.
/// </summary>
public sealed class HttpEdgeOptions
{
    public const string Section = "Sensors360:Http";

    /// <summary>Addresses of trusted proxies, e.g. <c>10.0.0.2</c>.</summary>
    public string[] KnownProxies { get; set; } = [];

    /// <summary>Networks of trusted proxies in CIDR notation, e.g. <c>10.0.0.0/24</c>.</summary>
    public string[] KnownNetworks { get; set; } = [];

    public bool TrustsProxies => KnownProxies.Length > 0 || KnownNetworks.Length > 0;

    /// <summary>
    /// After SIGTERM, how long the server keeps serving while <c>/readyz</c> answers 503, so the load balancer takes
    /// it out before it stops accepting (docs/operations.md#restarts-and-drains): at least the balancer's check
    /// interval × fall count plus one interval.
    /// </summary>
    public TimeSpan DrainDelay { get; set; } = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan MaxDrainDelay = TimeSpan.FromMinutes(5);

    /// <summary>The first setting that is not an address (or network), or a drain delay out of range; null when all are valid.</summary>
    public string? FirstInvalid() =>
        KnownProxies.Select((value, index) => IPAddress.TryParse(value, out _) ? null : $"{Section}:KnownProxies:{index} ('{value}') must be an IP address.")
            .Concat(KnownNetworks.Select((value, index) => System.Net.IPNetwork.TryParse(value, out _) ? null : $"{Section}:KnownNetworks:{index} ('{value}') must be a network in CIDR notation, e.g. 10.0.0.0/24."))
            .Append(DrainDelay >= TimeSpan.Zero && DrainDelay <= MaxDrainDelay ? null : $"{Section}:DrainDelay must be from 00:00:00 to {MaxDrainDelay}.")
            .FirstOrDefault(error => error is not null);
}

/// <summary>
/// What every response gets at the edge: the client's real address and scheme behind a trusted proxy, HSTS
/// over https, and the browser security headers (CSP, nosniff, Referrer-Policy).
/// </summary>
public static class HttpEdge
{
    /// <summary>
    /// The page loads only its own scripts, styles and connections (the feed's WebSocket is <c>'self'</c>);
    /// <c>data:</c> images only for the empty favicon; no page may frame it.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

    public static WebApplicationBuilder AddHttpEdge(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<HttpEdgeOptions>().Bind(builder.Configuration.GetSection(HttpEdgeOptions.Section));
        builder.Services.AddSingleton<IValidateOptions<HttpEdgeOptions>, HttpEdgeOptionsCheck>();
        builder.Services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<HttpEdgeOptions>>((forwarded, edge) =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            // Only the configured proxies: the defaults (loopback) would let anything on this host claim any address.
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var proxy in edge.Value.KnownProxies)
            {
                forwarded.KnownProxies.Add(IPAddress.Parse(proxy));
            }

            foreach (var network in edge.Value.KnownNetworks)
            {
                forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
            }
        });
        builder.Services.AddHsts(options =>
        {
            options.MaxAge = TimeSpan.FromDays(365);
            // Browsers ignore HSTS for IP addresses (RFC 6797 8.1), so only "localhost" stays excluded: pinning it
            // to https would break every other plain-http development server on the machine.
            options.ExcludedHosts.Clear();
            options.ExcludedHosts.Add("localhost");
        });
        return builder;
    }

    /// <summary>First in the pipeline, so every later step (rate limits, cookies, origin checks) sees the real client.</summary>
    public static WebApplication UseHttpEdge(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<HttpEdgeOptions>>().Value.TrustsProxies)
        {
            app.UseForwardedHeaders();
        }

        // Sent only on requests that came over https (directly or, per the proxy, to it); never on plain http.
        app.UseHsts();
        app.Use(static (context, next) =>
        {
            // On starting, so error responses (whose headers the exception handler clears) carry them too; a static
            // callback with the response as its state, so no closure is allocated per request.
            context.Response.OnStarting(AddSecurityHeaders, context.Response);
            return next(context);
        });
        return app;
    }

    private static readonly Func<object, Task> AddSecurityHeaders = static state =>
    {
        var headers = ((HttpResponse)state).Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "same-origin";
        return Task.CompletedTask;
    };
}

internal sealed class HttpEdgeOptionsCheck : IValidateOptions<HttpEdgeOptions>
{
    public ValidateOptionsResult Validate(string? name, HttpEdgeOptions options) =>
        options.FirstInvalid() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}
