using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace Sensors360.Server.Http;

/// <summary>
/// Every error leaves as an RFC 9457 problem body, whether an endpoint returned it, the framework
/// rejected the request (bad JSON, a body too large) or a bare status code was set.
/// </summary>
public static class HttpProblems
{
    /// <summary>
    /// What a 503 tells its client to wait (<c>Retry-After</c>) unless its endpoint knows better: the database could
    /// not take the request, and most outages a client rides out are restarts and failovers of seconds.
    /// </summary>
    public const string UnavailableRetryAfterSeconds = "5";

    public static WebApplicationBuilder AddSensors360Problems(this WebApplicationBuilder builder)
    {
        builder.Services.AddProblemDetails();
        return builder;
    }

    /// <summary>
    /// Every 503 of a routed request says when to try again, however it was written (a problem result, which writes
    /// itself when the caller accepts no JSON; a bare status). After routing, so the short-circuited heartbeat routes,
    /// which set their own, pay nothing for it.
    /// </summary>
    public static WebApplication UseUnavailableRetryAfter(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            context.Response.OnStarting(
                static state =>
                {
                    var response = (HttpResponse)state;
                    if (response.StatusCode == StatusCodes.Status503ServiceUnavailable && !response.Headers.ContainsKey(HeaderNames.RetryAfter))
                    {
                        response.Headers.RetryAfter = UnavailableRetryAfterSeconds;
                    }

                    return Task.CompletedTask;
                },
                context.Response);
            return next(context);
        });
        return app;
    }

    public static WebApplication UseSensors360Problems(this WebApplication app)
    {
        app.UseExceptionHandler(FailedRequestProblems.Options(app));
        // A problem result, not the problem service alone, so a caller that accepts no JSON gets the problem too.
        app.UseStatusCodePages(static context => TypedResults.Problem(statusCode: context.HttpContext.Response.StatusCode).ExecuteAsync(context.HttpContext));
        return app;
    }

    /// <summary>A problem result with a status, a short title and a detail that says what to fix.</summary>
    public static ProblemHttpResult Problem(int status, string title, string? detail = null) =>
        TypedResults.Problem(new ProblemDetails { Status = status, Title = title, Detail = detail });

    /// <summary>
    /// Sets <c>Retry-After</c> to <paramref name="retryAfter"/> in whole seconds, rounded up and at least 1 (a client
    /// told 0 would retry at once), and returns them for the problem's detail.
    /// </summary>
    public static int SetRetryAfter(HttpResponse response, TimeSpan retryAfter)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return seconds;
    }

    /// <summary>The 503 of a change the database could not take (a grain reported it unavailable); nothing was changed.</summary>
    public static ProblemHttpResult ChangeUnavailable() =>
        Problem(503, "Database unavailable", "The database could not take the change; try again.");
}
