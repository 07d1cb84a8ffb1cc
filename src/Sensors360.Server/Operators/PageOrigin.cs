using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Operators;

/// <summary>
/// Cross-site request forgery: a browser attaches the session cookie to requests that other pages make, so a
/// request that changes state with that cookie (and every login) must come from this server's own page.
/// </summary>
/// <remarks>
/// Accepted when <c>Sec-Fetch-Site</c> says <c>same-origin</c> or, where a browser sends no fetch metadata
/// (plain http to a name other than localhost), when <c>Origin</c> is this request's own scheme://host (after
/// forwarded headers). No header at all is refused: every browser sends one of them on such requests, so only a
/// client that is not a browser lacks both, and it can send <c>Origin</c>. Sensors' bearer-token requests carry
/// no cookie and are not affected; reads (GET, HEAD, OPTIONS) change nothing and are not checked here (the
/// feed's WebSocket upgrade is a GET and checks its Origin itself).
/// </remarks>
public static class PageOrigin
{
    public static WebApplication UsePageOriginCheck(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            if (!NeedsCheck(context) || IsFromOwnPage(context.Request))
            {
                return next(context);
            }

            return Problem(StatusCodes.Status403Forbidden, "Cross-site request refused",
                "A request that changes state with an operator's session must come from this server's page: send Origin " +
                "with this server's scheme://host (browsers do this themselves).").ExecuteAsync(context);
        });
        return app;
    }

    /// <summary>Whether the request came from a page served by this very origin.</summary>
    public static bool IsFromOwnPage(HttpRequest request)
    {
        var site = request.Headers["Sec-Fetch-Site"];
        if (site.Count > 0)
        {
            return site.Count == 1 && string.Equals(site[0], "same-origin", StringComparison.OrdinalIgnoreCase);
        }

        var origin = request.Headers.Origin;
        return origin.Count == 1
            && string.Equals(origin[0], $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase);
    }

    private static bool NeedsCheck(HttpContext context)
    {
        var method = context.Request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method))
        {
            return false;
        }

        // Login counts too, with or without a cookie: a forged login would sign the victim in as the attacker.
        return context.GetEndpoint()?.Metadata.GetMetadata<StartsNewOperatorSession>() is not null
            || context.Request.Cookies.ContainsKey(OperatorSessions.CookieName)
            || context.Request.Cookies.ContainsKey(OperatorSessions.SecureCookieName);
    }
}
