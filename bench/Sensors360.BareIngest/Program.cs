using System.Globalization;
using System.Net;
using Npgsql;
using Sensors360.BareIngest;

// dotnet Sensors360.BareIngest.dll <port> <connection string>: Kestrel on 127.0.0.1:<port>; any request's last path
// segment names a sensor; it calls one in-process Orleans grain per sensor, which hands the heartbeat to a group-committed insert into a table of
// the heartbeat table's shape (its columns and indexes, not partitioned), and answers 204 once it is committed. The same
// durable work as the product's heartbeat route with nothing else: no routing, middleware, metrics, token, limiter,
// silence watch, checkpoint or interval histogram. The reference the heartbeat route is compared with.
if (args is not [_, _] || !int.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
{
    Console.Error.WriteLine("Usage: Sensors360.BareIngest <port> <connection string>");
    return 2;
}

var connectionString = new NpgsqlConnectionStringBuilder(args[1]) { MaxAutoPrepare = 32, ApplicationName = "bare-ingest" }.ConnectionString;
await using (var setup = new NpgsqlConnection(connectionString))
{
    await setup.OpenAsync();
    await using var create = new NpgsqlCommand("""
        DROP TABLE IF EXISTS bare_heartbeat;
        CREATE TABLE bare_heartbeat (LIKE heartbeat INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
        """, setup);
    await create.ExecuteNonQueryAsync();
}

var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = args });
builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
builder.Services.AddSingleton(new GroupCommit(connectionString, writers: 4));
builder.Services.AddSingleton(TimeProvider.System);
builder.UseOrleans(silo => silo.UseLocalhostClustering());
await using var app = builder.Build();
var grains = app.Services.GetRequiredService<IGrainFactory>();
app.Run(async context =>
{
    var path = context.Request.Path.Value!;
    await grains.GetGrain<IBareSensorGrain>(path[(path.LastIndexOf('/') + 1)..]).Beat();
    context.Response.StatusCode = StatusCodes.Status204NoContent;
});

await app.RunAsync();
return 0;
