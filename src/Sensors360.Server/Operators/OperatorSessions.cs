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
    public const string CookieName = "sensors360.session";

    /// <summary>Data Protection's application name; silos with the same name share the key ring.</summary>
    public const string ApplicationName = "Sensors360";

    /// <summary>A session ends after this long without a request.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromHours(8);

    internal static IServiceCollection AddOperatorSessions(this IServiceCollection services)
    {
        services.AddDataProtection().SetApplicationName(ApplicationName);
        services.AddOptions<KeyManagementOptions>()
            .Configure<NpgsqlDataSource>((options, dataSource) => options.XmlRepository = new DataProtectionKeyTable(dataSource));

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<OperatorSessionStore>();
        // The ticket lives in the database and the cookie holds only its key, so logout ends the session everywhere.
        services.AddOptions<CookieAuthenticationOptions>(CookieAuthenticationDefaults.AuthenticationScheme)
            .Configure<OperatorSessionStore>((options, store) => options.SessionStore = store);

        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(options =>
        {
            options.Cookie.Name = CookieName;
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
