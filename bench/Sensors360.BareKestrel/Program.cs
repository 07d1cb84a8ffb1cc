using System.Globalization;
using System.Net;

// dotnet Sensors360.BareKestrel.dll <port> [--security-headers|--security-headers-on-starting]: Kestrel on
// 127.0.0.1:<port> answering every request with 204 and nothing else (no routing, logging, middleware or metrics): the
// ceiling the product's /bench/noop is compared with. The options add the product's three security headers, set at
// once or from an on-starting callback, so the pipeline comparison (build.ps1 bench -Part pipeline) can tell their
// bytes and the callback from the rest of the pipeline.
if (args is not ([_] or [_, "--security-headers" or "--security-headers-on-starting"])
    || !int.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
{
    Console.Error.WriteLine("Usage: Sensors360.BareKestrel <port> [--security-headers|--security-headers-on-starting]");
    return 2;
}

var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = args });
builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
await using var app = builder.Build();
if (args is [_, "--security-headers"])
{
    app.Run(static context =>
    {
        AddSecurityHeaders(context.Response);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    });
}
else if (args is [_, "--security-headers-on-starting"])
{
    app.Run(static context =>
    {
        context.Response.OnStarting(AddSecurityHeaders, context.Response);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    });
}
else
{
    app.Run(static context =>
    {
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    });
}

await app.RunAsync();
return 0;

// The same three headers and values as the product's edge (src/Sensors360.Server/Http/HttpEdge.cs).
static Task AddSecurityHeaders(object state)
{
    var headers = ((HttpResponse)state).Headers;
    headers.ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
    headers.XContentTypeOptions = "nosniff";
    headers["Referrer-Policy"] = "same-origin";
    return Task.CompletedTask;
}
