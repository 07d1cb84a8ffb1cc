using Microsoft.AspNetCore.Diagnostics;
using Npgsql;

namespace Sensors360.Server.Http;

/// <summary>
/// A request that failed because the database did not answer gets 503 with <c>Retry-After</c>, not 500:
/// the request was fine, and trying again later will work.
/// </summary>
internal sealed partial class DatabaseUnavailableHandler(ILogger<DatabaseUnavailableHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not (NpgsqlException or TimeoutException))
        {
            return false;
        }

        var reason = exception.Message.ReplaceLineEndings(" ");
        LogUnavailable(logger, httpContext.Request.Path, reason);
        httpContext.Response.Headers.RetryAfter = HttpProblems.UnavailableRetryAfterSeconds;
        // Written as a problem result, which writes its JSON itself when the caller accepts no JSON (where the
        // problem service alone would refuse, and the caller would get an empty 503).
        await HttpProblems.Problem(
            StatusCodes.Status503ServiceUnavailable,
            "Database unavailable",
            "The database could not take the request (it did not answer, or refused a write); nothing was changed. Try again shortly.")
            .ExecuteAsync(httpContext);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Path}: database unavailable: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string path, string reason);
}
