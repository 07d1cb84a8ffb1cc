using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using Sensors360.Server.Audit;
using Sensors360.Server.Http;

namespace Sensors360.Server.Operators;

/// <summary><c>/api/auth</c>: log in, log out, and who the current session belongs to.</summary>
public static class OperatorAuthApi
{
    /// <summary>Login attempts accepted per client address and minute; more get 429.</summary>
    public const int LoginAttemptsPerMinute = 10;

    /// <summary>Per client address: slows password guessing without letting one client lock others out.</summary>
    internal static readonly EndpointRateLimit LoginLimit = new(
        "login", LoginAttemptsPerMinute, TimeSpan.FromMinutes(1), http => http.Connection.RemoteIpAddress?.ToString() ?? "");

    public static IEndpointRouteBuilder MapOperatorAuth(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/api/auth");
        auth.MapPost("/login", LoginAsync).AllowAnonymous().RequireRateLimit(LoginLimit)
            .WithMetadata(StartsNewOperatorSession.Instance).WithName("Login");
        // The cast makes the framework write the handler's result instead of taking it for a RequestDelegate.
        auth.MapPost("/logout", (Delegate)LogoutAsync).WithName("Logout").RequireAuthorization(OperatorPolicies.Viewer);
        auth.MapGet("/me", GetCurrentOperator).WithName("GetCurrentOperator").RequireAuthorization(OperatorPolicies.Viewer);
        return app;
    }

    /// <summary>
    /// <c>POST /api/auth/login</c> (anonymous): starts a new session for a name and password, ending the one the request
    /// came with. Limited per client address and per account name (<see cref="AccountLoginLimit"/>).
    /// </summary>
    internal static async Task<Results<Ok<OperatorView>, ProblemHttpResult>> LoginAsync(
        HttpContext context, OperatorAccounts accounts, AccountLoginLimit accountLimit, AuditLog audit, CancellationToken cancellationToken)
    {
        var request = await ReadLoginAsync(context.Request, cancellationToken);
        if (request is null || string.IsNullOrWhiteSpace(request.Username) || string.IsNullOrEmpty(request.Password))
        {
            return HttpProblems.Problem(StatusCodes.Status400BadRequest, "Username and password are required",
                """Send a JSON body {"username": "...", "password": "..."} with Content-Type: application/json.""");
        }

        var address = context.Connection.RemoteIpAddress;
        using var turn = await accountLimit.WaitTurnAsync(request.Username, cancellationToken);
        if (!turn.IsAcquired)
        {
            return HttpProblems.Problem(StatusCodes.Status429TooManyRequests, "Too many logins", "Too many logins to this account at once; try again later.");
        }

        // Checked before the password, so a locked name tells nothing about a guess.
        if (accountLimit.IsLocked(request.Username, address, out var retryAfter))
        {
            var seconds = HttpProblems.SetRetryAfter(context.Response, retryAfter);
            return HttpProblems.Problem(StatusCodes.Status429TooManyRequests, "Too many failed logins",
                $"Too many failed logins for this account; try again in {seconds} s.");
        }

        var account = await accounts.FindByPasswordAsync(request.Username, request.Password, cancellationToken);
        if (account is null)
        {
            accountLimit.RecordFailure(request.Username, address);
            await audit.WriteAsync(AuditEntry.For(context, AuditActions.LoginFailed, AuditTarget(request.Username)), cancellationToken);
            // One answer for an unknown name and a wrong password, so names cannot be probed.
            return HttpProblems.Problem(StatusCodes.Status401Unauthorized, "Wrong username or password");
        }

        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, OperatorSessions.PrincipalFor(account));
        await accounts.RecordLoginAsync(
            account, new AuditEntry(account.Username, AuditActions.LoginSucceeded, account.Username, context.Connection.RemoteIpAddress?.ToString()), cancellationToken);
        return TypedResults.Ok(new OperatorView(account.Username, account.Role));
    }

    // A failed login's name is whatever was typed: kept, but no longer than a username can be, and without the U+0000
    // PostgreSQL's text cannot hold.
    private static string AuditTarget(string username) => StoredText.Cut(username, 64).Replace('\0', '\uFFFD');

    // Read here rather than bound by the framework: a bound body makes routing answer a wrong content type
    // with 415, and that answer is not anonymous, so a client without a session would see a misleading 401.
    private static async Task<LoginRequest?> ReadLoginAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (!request.HasJsonContentType())
        {
            return null;
        }

        try
        {
            return await request.ReadFromJsonAsync<LoginRequest>(cancellationToken);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary><c>POST /api/auth/logout</c>: ends the session on the server (every copy of its cookie stops working) and clears the cookie.</summary>
    internal static async Task<NoContent> LogoutAsync(HttpContext context)
    {
        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return TypedResults.NoContent();
    }

    /// <summary><c>GET /api/auth/me</c>: the operator the session belongs to.</summary>
    internal static Results<Ok<OperatorView>, ProblemHttpResult> GetCurrentOperator(ClaimsPrincipal user) =>
        user.FindFirstValue(ClaimTypes.Name) is { } username && user.FindFirstValue(ClaimTypes.Role) is { } role
            ? TypedResults.Ok(new OperatorView(username, role))
            : HttpProblems.Problem(StatusCodes.Status401Unauthorized, "Not logged in", "The session names no operator; log in again.");
}

internal sealed record LoginRequest(string? Username, string? Password);

internal sealed record OperatorView(string Username, string Role);
