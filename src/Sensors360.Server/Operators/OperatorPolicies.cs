using Microsoft.AspNetCore.Authorization;

namespace Sensors360.Server.Operators;

/// <summary>
/// Who may call an endpoint, by role: each role may do what the one below it may, and more
/// (admin ⊇ operator ⊇ viewer). Every endpoint names one of these (or is anonymous); the role is read
/// from <c>app_user</c> at each request (<see cref="OperatorSessionStore"/>), so changes apply at once.
/// </summary>
public static class OperatorPolicies
{
    /// <summary>Reads and the live feed.</summary>
    public const string Viewer = "role:viewer";

    /// <summary>Also sensors (provision, retire, rotate tokens) and alerts (acknowledge).</summary>
    public const string Operator = "role:operator";

    /// <summary>Also operators, imports, audit and model training.</summary>
    public const string Admin = "role:admin";

    internal static AuthorizationBuilder AddOperatorPolicies(this AuthorizationBuilder authorization)
    {
        var viewer = Require(OperatorRoles.Viewer, OperatorRoles.Operator, OperatorRoles.Admin);
        return authorization
            .AddPolicy(Viewer, viewer)
            .AddPolicy(Operator, Require(OperatorRoles.Operator, OperatorRoles.Admin))
            .AddPolicy(Admin, Require(OperatorRoles.Admin))
            // Secure by default: an endpoint that names no policy still needs a session with a known role.
            .SetFallbackPolicy(viewer);
    }

    // Without a session the middleware answers 401 (challenge); with one whose role is not listed, 403 (forbid).
    private static AuthorizationPolicy Require(params string[] roles) =>
        new AuthorizationPolicyBuilder().RequireAuthenticatedUser().RequireRole(roles).Build();
}
