using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Npgsql;

namespace Sensors360.Server.Http;

/// <summary>
/// What a request that threw answers, always as a problem body whatever its caller accepts: 503 with <c>Retry-After</c>
/// when the database did not answer or refused the work (the request was fine, and trying again later will work), a bad
/// request's own status when its body was malformed on the wire or too large (400, 408, 413), otherwise 500: among them
/// a statement the database rejected for its data or schema, which waiting does not mend.
/// </summary>
internal static partial class FailedRequestProblems
{
    public static ExceptionHandlerOptions Options(IApplicationBuilder app)
    {
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(FailedRequestProblems));
        var branch = app.New();
        // The exception handler cleared the response's headers, HSTS among them (every https response carries it).
        branch.UseHsts();
        branch.Run(context => WriteAsync(context, logger));
        return new ExceptionHandlerOptions
        {
            ExceptionHandler = branch.Build(),
            StatusCodeSelector = StatusOf,
            // Only a 500 is the server's fault: an outage is logged as one warning line per request below, not as an
            // unhandled error with its stack, and a broken body is the client's (Kestrel logs those at debug).
            SuppressDiagnosticsCallback = static context => StatusOf(context.Exception) != StatusCodes.Status500InternalServerError,
        };
    }

    private static int StatusOf(Exception exception) => exception switch
    {
        // SQLSTATE classes 22 (data exception), 23 (integrity constraint) and 42 (syntax or access rule): a bug or a
        // broken schema or grant, to be logged with its stack.
        PostgresException { SqlState: ['2', '2' or '3', ..] or ['4', '2', ..] } => StatusCodes.Status500InternalServerError,
        NpgsqlException or TimeoutException => StatusCodes.Status503ServiceUnavailable,
        BadHttpRequestException bad => bad.StatusCode,
        _ => StatusCodes.Status500InternalServerError,
    };

    // Written as problem results, which write their JSON themselves when the caller accepts no JSON (Accept: text/html),
    // where the problem service alone would refuse and leave the error empty.
    private static Task WriteAsync(HttpContext context, ILogger logger)
    {
        var exception = context.Features.GetRequiredFeature<IExceptionHandlerFeature>().Error;
        var status = StatusOf(exception);
        if (status != StatusCodes.Status503ServiceUnavailable)
        {
            return TypedResults.Problem(statusCode: status).ExecuteAsync(context);
        }

        var reason = exception.Message.ReplaceLineEndings(" ");
        LogUnavailable(logger, context.Request.Path, reason);
        context.Response.Headers.RetryAfter = HttpProblems.UnavailableRetryAfterSeconds;
        return HttpProblems.Problem(
            status,
            "Database unavailable",
            "The database could not take the request (it did not answer, or refused a write); nothing was changed. Try again shortly.")
            .ExecuteAsync(context);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Path}: database unavailable: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string path, string reason);
}
