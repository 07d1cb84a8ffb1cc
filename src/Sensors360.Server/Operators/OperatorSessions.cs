using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql;
using Sensors360.Server.Http;

namespace Sensors360.Server.Operators;

/// <summary>
/// Operators' sessions: a cookie every silo can read (Data Protection keys live in PostgreSQL) that names a
/// session kept in <c>operator_session</c>, and every endpoint requires one unless it says <c>AllowAnonymous</c>.
/// </summary>
public static class OperatorSessions
{
    /// <summary>The session cookie's name on plain http (e.g. http://localhost during development).</summary>
    public const string CookieName = "sensors360.session";

    /// <summary>
    /// Its name over https (directly or behind a trusted TLS proxy): browsers accept a <c>__Host-</c> cookie only
    /// when Secure, for path / and without Domain, so no other host or plain-http page can set or shadow it.
    /// </summary>
    public const string SecureCookieName = "__Host-" + CookieName;

    /// <summary>Data Protection's application name; silos with the same name share the key ring.</summary>
    public const string ApplicationName = "Sensors360";

    /// <summary>A session ends after this long without a request (and, however busy, after <see cref="OperatorSessionOptions.SessionLifetime"/>).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromHours(8);

    internal static IServiceCollection AddOperatorSessions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<OperatorSessionOptions>().Bind(configuration.GetSection(OperatorSessionOptions.Section))
            .Validate(options => options.SessionLifetime > TimeSpan.Zero, $"{OperatorSessionOptions.Section}:SessionLifetime must be a positive time span, e.g. 7.00:00:00.");
        services.AddDataProtection().SetApplicationName(ApplicationName);
        services.AddOptions<KeyManagementOptions>()
            .Configure<NpgsqlDataSource>((options, dataSource) => options.XmlRepository = new DataProtectionKeyTable(dataSource));

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<OperatorSessionCache>();
        services.AddSingleton<OperatorSessionStore>();
        // The ticket lives in the database and the cookie holds only its key, so logout ends the session everywhere.
        services.AddOptions<CookieAuthenticationOptions>(CookieAuthenticationDefaults.AuthenticationScheme)
            .Configure<OperatorSessionStore>((options, store) => options.SessionStore = store);

        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(options =>
        {
            options.Cookie.Name = CookieName;
            options.CookieManager = new HttpsPrefixedCookieManager();
            options.Cookie.HttpOnly = true;
            options.Cookie.SameSite = SameSiteMode.Strict;
            // Secure behind https, and still usable on plain http://localhost.
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.Cookie.IsEssential = true;
            options.ExpireTimeSpan = IdleTimeout;
            options.SlidingExpiration = true;
            // An API answers 401/403 with a problem body; redirecting to an HTML login page would hide the error.
            options.Events.OnRedirectToLogin = context => WriteProblemAsync(
                context.HttpContext, StatusCodes.Status401Unauthorized, "Not logged in", "Log in with POST /api/auth/login; the session may have expired.");
            options.Events.OnRedirectToAccessDenied = context => WriteProblemAsync(
                context.HttpContext, StatusCodes.Status403Forbidden, "Not allowed", "Your role does not allow this request.");
        });

        // Secure by default: an endpoint is public only when it says AllowAnonymous.
        services.AddAuthorizationBuilder().AddOperatorPolicies();
        return services;
    }

    /// <summary>The session's identity: the operator's id (<c>NameIdentifier</c>), name and role.</summary>
    internal static ClaimsPrincipal PrincipalFor(OperatorAccount account) => new(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, account.Id.ToString(CultureInfo.InvariantCulture)),
            new Claim(ClaimTypes.Name, account.Username),
            new Claim(ClaimTypes.Role, account.Role),
        ],
        CookieAuthenticationDefaults.AuthenticationScheme));

    // The result writes through IProblemDetailsService, and still writes JSON when the Accept header
    // names no JSON type (where IProblemDetailsService alone would refuse).
    private static Task WriteProblemAsync(HttpContext context, int status, string title, string detail) =>
        HttpProblems.Problem(status, title, detail).ExecuteAsync(context);
}

/// <summary>Settings under <c>Sensors360:Operators</c>.</summary>
public sealed class OperatorSessionOptions
{
    public const string Section = "Sensors360:Operators";

    /// <summary>
    /// A session ends this long after its login even if it is used all the time, so a stolen cookie cannot be
    /// kept alive for ever by using it.
    /// </summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromDays(7);
}

/// <summary>
/// The session cookie is <see cref="OperatorSessions.SecureCookieName"/> on https requests and
/// <see cref="OperatorSessions.CookieName"/> on plain http, decided per request (after forwarded headers).
/// </summary>
internal sealed class HttpsPrefixedCookieManager : ICookieManager
{
    private const string HostPrefix = "__Host-";

    private readonly ChunkingCookieManager _cookies = new();

    public string? GetRequestCookie(HttpContext context, string key) => _cookies.GetRequestCookie(context, NameFor(context, key));

    public void AppendResponseCookie(HttpContext context, string key, string? value, CookieOptions options) =>
        _cookies.AppendResponseCookie(context, NameFor(context, key), value, options);

    public void DeleteCookie(HttpContext context, string key, CookieOptions options) => _cookies.DeleteCookie(context, NameFor(context, key), options);

    private static string NameFor(HttpContext context, string key) => context.Request.IsHttps ? HostPrefix + key : key;
}
