namespace Sensors360.Server.Http;

/// <summary>
/// A 204 for the hot routes. <c>TypedResults.NoContent()</c> answers the same, but on every execution it asks the
/// request's services for the logger factory and creates a logger, which opens a service scope per request; this
/// only sets the status.
/// </summary>
public sealed class QuietNoContent : IResult
{
    public static readonly QuietNoContent Instance = new();

    private QuietNoContent()
    {
    }

    public Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    }
}
