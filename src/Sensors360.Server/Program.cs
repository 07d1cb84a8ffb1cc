using Sensors360.Server.Cluster;
using Sensors360.Server.Database;
using Sensors360.Server.Health;

var builder = WebApplication.CreateBuilder(args);
builder.AddSensors360Database();
builder.AddSensors360Silo();
builder.AddSensors360Health();

var app = builder.Build();
if (!await app.PrepareDatabaseAsync())
{
    return 1;
}

app.MapHealth();
app.MapCluster();

return await app.RunSensors360Async();
