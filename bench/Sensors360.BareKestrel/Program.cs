using System.Globalization;
using System.Net;

// dotnet Sensors360.BareKestrel.dll <port>: Kestrel on 127.0.0.1:<port> answering every request with 204 and nothing
// else (no routing, logging, middleware or metrics): the ceiling the product's /bench/noop is compared with.
if (args is not [var portText] || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
{
    Console.Error.WriteLine("Usage: Sensors360.BareKestrel <port>");
    return 2;
}

var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = args });
builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
await using var app = builder.Build();
app.Run(static context =>
{
    context.Response.StatusCode = StatusCodes.Status204NoContent;
    return Task.CompletedTask;
});
await app.RunAsync();
return 0;
