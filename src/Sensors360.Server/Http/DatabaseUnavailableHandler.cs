using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Sensors360.Server.Http;

/// <summary>
/// A request that failed because the database did not answer gets 503 with <c>Retry-After</c>, not 500:
/// the request was fine, and trying again later will work.
/// </summary>
internal sealed partial class DatabaseUnavailableHandler(IProblemDetailsService problems, ILogger<DatabaseUnavailableHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not (NpgsqlException or TimeoutException))
        {
            return false;
        }

        var reason = exception.Message.ReplaceLineEndings(" ");
        LogUnavailable(logger, httpContext.Request.Path, reason);
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = HttpProblems.UnavailableRetryAfterSeconds;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Database unavailable",
                Detail = "The database did not answer; nothing was changed. Try again shortly.",
            },
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Path}: database unavailable: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string path, string reason);
}
