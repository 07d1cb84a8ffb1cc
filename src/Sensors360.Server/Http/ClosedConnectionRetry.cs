using Sensors360.Server.Database;

namespace Sensors360.Server.Http;

/// <summary>
/// A read (<c>GET</c>, <c>HEAD</c>) that failed on a connection the database had closed while it sat in a pool is
/// served once more before anything is written: after a database restart the pools (the server's, Orleans') may hold
/// such connections, and the first request to meet one would otherwise get a 503 although the database is back. A read
/// changes nothing, so running it twice is safe; other methods are not tried again. The session is not read again here
/// (the cookie handler keeps its first result for the request): <see cref="Operators.OperatorSessionStore"/> does that.
/// </summary>
internal static partial class ClosedConnectionRetry
{
    public static WebApplication UseClosedConnectionRetry(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClosedConnectionRetry));
        app.Use(async (context, next) =>
        {
            if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
            {
                await next(context);
                return;
            }

            try
            {
                await next(context);
            }
            catch (Exception e) when (ClosedConnection.Is(e) && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                var (path, reason) = (context.Request.Path.Value ?? "/", e.Message.ReplaceLineEndings(" "));
                LogReadAgain(logger, path, reason);
                // Nothing was written; the headers set in front of this step (HSTS) stay, as do those of the first
                // attempt, which the second sets again.
                context.Response.StatusCode = StatusCodes.Status200OK;
                await next(context);
            }
        });
        return app;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Path}: a pooled connection had been closed by the database ({Reason}); reading once more")]
    private static partial void LogReadAgain(ILogger logger, string path, string reason);
}
