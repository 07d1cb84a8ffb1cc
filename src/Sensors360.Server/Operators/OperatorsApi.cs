using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Sensors360.Server.Audit;
using Sensors360.Server.Http;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Operators;

/// <summary>
/// Operator management for admins (<c>/api/operators</c>) and every operator's own password change
/// (<c>POST /api/auth/password</c>). Each change is written with its audit event in one transaction.
/// </summary>
public static class OperatorsApi
{
    /// <summary>Own password changes (each checks the current password) accepted per operator in <see cref="PasswordChangeWindow"/>.</summary>
    public const int PasswordChangesPerWindow = 5;

    public static readonly TimeSpan PasswordChangeWindow = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Per operator, not per address: someone holding a stolen session cannot guess the current password
    /// (and so take the account over) faster than this, from however many addresses.
    /// </summary>
    internal static readonly EndpointRateLimit PasswordChangeLimit = new(
        "password-change", PasswordChangesPerWindow, PasswordChangeWindow, http => http.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? "");

    public static IEndpointRouteBuilder MapOperators(this IEndpointRouteBuilder app)
    {
        var operators = app.MapGroup("/api/operators").RequireAuthorization(OperatorPolicies.Admin);
        operators.MapGet("", ListAsync);
        operators.MapPost("", CreateAsync);
        operators.MapPatch("/{username}", ChangeAsync);
        operators.MapPost("/{username}/password", ResetPasswordAsync);

        // Any role changes its own password.
        app.MapPost("/api/auth/password", ChangeOwnPasswordAsync)
            .RequireAuthorization(OperatorPolicies.Viewer)
            .RequireRateLimit(PasswordChangeLimit);
        return app;
    }

    internal static async Task<Ok<OperatorListResponse>> ListAsync(OperatorAccounts accounts, CancellationToken cancellationToken) =>
        TypedResults.Ok(new OperatorListResponse(await accounts.ListAsync(cancellationToken)));

    internal static async Task<Results<Created<OperatorSummary>, ProblemHttpResult>> CreateAsync(
        CreateOperatorRequest request, HttpContext http, OperatorAccounts accounts, CancellationToken cancellationToken)
    {
        if (!OperatorNames.IsValid(request.Username))
        {
            return Problem(400, "Invalid username", $"username must be {OperatorNames.Rule}");
        }

        if (!OperatorRoles.IsRole(request.Role))
        {
            return Problem(400, "Invalid role", "role must be one of admin, operator, viewer");
        }

        if (!OperatorPasswords.IsAcceptable(request.Password, request.Username!))
        {
            return Problem(400, "Unacceptable password", $"password must be {OperatorPasswords.Rule}");
        }

        var created = await accounts.CreateAsync(
            request.Username!, request.Password!, request.Role!, AuditEntry.For(http, AuditActions.OperatorCreated, request.Username), cancellationToken);
        return created is null
            ? Problem(409, "Operator exists", $"An operator named '{request.Username}' already exists.")
            : TypedResults.Created($"/api/operators/{Uri.EscapeDataString(created.Username)}", created);
    }

    internal static async Task<Results<Ok<OperatorSummary>, ProblemHttpResult>> ChangeAsync(
        string username, ChangeOperatorRequest request, HttpContext http, OperatorAccounts accounts, CancellationToken cancellationToken)
    {
        if (!OperatorNames.IsValid(username))
        {
            return NotFound(username);
        }

        if (request.Role is null && request.Disabled is null)
        {
            return Problem(400, "Nothing to change", """Send {"role": "admin|operator|viewer"} and/or {"disabled": true|false}.""");
        }

        if (request.Role is not null && !OperatorRoles.IsRole(request.Role))
        {
            return Problem(400, "Invalid role", "role must be one of admin, operator, viewer");
        }

        var (result, changed) = await accounts.ChangeAsync(
            username, request.Role, request.Disabled, AuditEntry.For(http, AuditActions.OperatorChanged, username), cancellationToken);
        return result switch
        {
            OperatorChangeResult.Done => TypedResults.Ok(changed!),
            OperatorChangeResult.LastAdmin => Problem(409, "Last admin",
                $"'{username}' is the last enabled admin; make another operator admin before demoting or disabling this one."),
            _ => NotFound(username),
        };
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> ResetPasswordAsync(
        string username, PasswordResetRequest request, HttpContext http, OperatorAccounts accounts, CancellationToken cancellationToken)
    {
        if (!OperatorNames.IsValid(username))
        {
            return NotFound(username);
        }

        if (!OperatorPasswords.IsAcceptable(request.Password, username))
        {
            return Problem(400, "Unacceptable password", $"password must be {OperatorPasswords.Rule}");
        }

        var result = await accounts.ResetPasswordAsync(
            username, request.Password!, http, AuditEntry.For(http, AuditActions.OperatorPasswordReset, username), cancellationToken);
        return result == OperatorChangeResult.Done ? TypedResults.NoContent() : NotFound(username);
    }

    /// <summary>A wrong current password is 403: the request is well formed, the proof is refused (401 would mean "log in").</summary>
    internal static async Task<Results<NoContent, ProblemHttpResult>> ChangeOwnPasswordAsync(
        PasswordChangeRequest request, HttpContext http, ClaimsPrincipal user, OperatorAccounts accounts, CancellationToken cancellationToken)
    {
        var username = user.FindFirstValue(ClaimTypes.Name) ?? "";
        if (!long.TryParse(user.FindFirstValue(ClaimTypes.NameIdentifier), NumberStyles.None, CultureInfo.InvariantCulture, out var userId))
        {
            return Problem(401, "Not logged in", "The session names no operator; log in again.");
        }

        if (string.IsNullOrEmpty(request.Current))
        {
            return Problem(400, "Current password required", """Send {"current": "...", "new": "..."}.""");
        }

        if (!OperatorPasswords.IsAcceptable(request.New, username))
        {
            return Problem(400, "Unacceptable password", $"new must be {OperatorPasswords.Rule}");
        }

        var result = await accounts.ChangeOwnPasswordAsync(
            userId, request.Current, request.New!, http, AuditEntry.For(http, AuditActions.PasswordChanged, username), cancellationToken);
        return result switch
        {
            OperatorChangeResult.Done => TypedResults.NoContent(),
            OperatorChangeResult.WrongPassword => Problem(403, "Wrong current password", "The current password is not right; nothing was changed."),
            _ => Problem(401, "Not logged in", "The session's operator no longer exists or is disabled."),
        };
    }

    private static ProblemHttpResult NotFound(string username) => Problem(404, "Operator not found", $"No operator is named '{username}'.");
}

public sealed record OperatorListResponse(IReadOnlyList<OperatorSummary> Items);

public sealed record CreateOperatorRequest(string? Username, string? Password, string? Role);

public sealed record ChangeOperatorRequest(string? Role, bool? Disabled);

public sealed record PasswordResetRequest(string? Password);

public sealed record PasswordChangeRequest(string? Current, string? New);
