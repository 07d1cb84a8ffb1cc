using Sensors360.Server.Alerts;
using Sensors360.Server.Bench;
using Sensors360.Server.Cluster;
using Sensors360.Server.Database;
using Sensors360.Server.Health;
using Sensors360.Server.Http;
using Sensors360.Server.Operators;
using Sensors360.Server.Sensors;

var builder = WebApplication.CreateBuilder(args);
builder.AddSensors360Problems();
builder.AddSensors360Database();
builder.AddSensors360Silo();
builder.AddSensors360Health();
builder.AddOperators();
builder.AddSensors();
builder.AddBench();

var app = builder.Build();
if (!app.CheckSettings() || !await app.PrepareDatabaseAsync() || !await app.BootstrapOperatorsAsync())
{
    return 1;
}

app.UseSensors360Problems();
app.UseAuthentication();
app.UseAuthorization();
app.UseRateLimiter();

app.MapHealth();
app.MapOperatorAuth();
app.MapCluster();
app.MapSensors();
app.MapHeartbeats();
app.MapAlerts();
app.MapBench();

return await app.RunSensors360Async();
