using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Metrics;

/// <summary>
/// The authentication of <c>/metrics</c> callers, a category of its own (neither an operator session nor a sensor
/// token): a caller on this host's loopback, or one that sends <see cref="MetricsOptions.Token"/> as a bearer token.
/// </summary>
internal sealed class MetricsScraper(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<MetricsOptions> metrics) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "MetricsScraper";

    /// <summary>The authorization policy of <c>/metrics</c>.</summary>
    public const string Policy = "metrics-scraper";

    private const string BearerPrefix = "Bearer ";

    // Hashed once, so each comparison is between two values of one length and takes the same time whatever is sent.
    private readonly byte[]? _tokenHash = metrics.Value.HasToken ? SHA256.HashData(Encoding.UTF8.GetBytes(metrics.Value.Token!)) : null;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            // A token that is sent is checked even from loopback: a wrong one is a misconfigured scraper worth a 401.
            return Task.FromResult(Matches(header[BearerPrefix.Length..].Trim())
                ? Success("token")
                : AuthenticateResult.Fail("The metrics token does not match."));
        }

        return Task.FromResult(IsLoopbackCaller(Context) ? Success("loopback") : AuthenticateResult.NoResult());
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        var detail = _tokenHash is null
            ? "Metrics are served to loopback callers only: no Sensors360__Metrics__Token is set."
            : "Send the metrics token as 'Authorization: Bearer <token>' (Sensors360__Metrics__Token), or scrape from loopback.";
        await Problem(401, "Unauthorized", detail).ExecuteAsync(Context);
    }

    private bool Matches(string sent) =>
        _tokenHash is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(sent)), _tokenHash);

    private static AuthenticateResult Success(string how) =>
        AuthenticateResult.Success(new AuthenticationTicket(
            new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, $"metrics-scraper:{how}")], SchemeName)), SchemeName));

    /// <summary>
    /// The client is on this host's loopback. Behind a trusted proxy the address is already the forwarded client's
    /// (Http/HttpEdge.cs). A request that still carries forwarding headers came through a proxy the server does not
    /// trust, perhaps one on this very host, so its loopback address says nothing about the real client.
    /// </summary>
    internal static bool IsLoopbackCaller(HttpContext context)
    {
        if (context.Request.Headers.ContainsKey("X-Forwarded-For") || context.Request.Headers.ContainsKey("Forwarded"))
        {
            return false;
        }

        var address = context.Connection.RemoteIpAddress;
        if (address is null)
        {
            return false;
        }

        return IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
    }
}
