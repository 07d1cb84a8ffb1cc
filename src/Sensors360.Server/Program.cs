using Sensors360.Server.Alerts;
using Sensors360.Server.Analytics;
using Sensors360.Server.Audit;
using Sensors360.Server.Bench;
using Sensors360.Server.Cluster;
using Sensors360.Server.Dashboard;
using Sensors360.Server.Database;
using Sensors360.Server.Health;
using Sensors360.Server.Http;
using Sensors360.Server.Import;
using Sensors360.Server.Maintenance;
using Sensors360.Server.Metrics;
using Sensors360.Server.Notifications;
using Sensors360.Server.Operators;
using Sensors360.Server.Sensors;
using Sensors360.Server.Uptime;

// `Sensors360.Server healthcheck [url]` asks a running server's /readyz and exits (the container's HEALTHCHECK).
if (args is ["healthcheck", .. var probeArguments])
{
    return await HealthProbe.RunAsync(probeArguments);
}

// `Sensors360.Server migrate` applies the schema as the owner role and exits (docs/security.md, least privilege).
var migrate = args is ["migrate", ..];

// Content root is where the server's files are, wherever it is started from (appsettings, wwwroot).
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = migrate ? args[1..] : args, ContentRootPath = AppContext.BaseDirectory });
builder.AddSensors360Problems();
builder.AddHttpEdge();
builder.AddEndpointRateLimits();
builder.AddSensors360Database();
builder.AddSensors360Silo();
builder.AddSensors360Health();
builder.AddSensors360Metrics();
builder.AddOperators();
builder.AddAudit();
builder.AddSensors();
builder.AddDashboard();
builder.AddAnalytics();
builder.AddNotifications();
builder.AddBench();
builder.AddServerDrain();

// Disposed on every way out, so the console log is flushed even when start-up gives up early.
await using var app = builder.Build();
if (migrate)
{
    return await app.MigrateDatabaseAsync() ? 0 : 1;
}

if (!app.CheckSettings() || !await app.PrepareDatabaseAsync() || !await app.BootstrapOperatorsAsync())
{
    return 1;
}

app.UseHttpEdge();
app.UseSensors360Problems();
// Routing here, after the edge and the problem bodies: endpoints marked ShortCircuit (the heartbeat routes) run
// from this point and skip the page, cookie, origin and authorization steps below, which they do not use.
app.UseRouting();
app.UseUnavailableRetryAfter();
app.UseClosedConnectionRetry();
app.UseDashboardPage();
app.UsePageOriginCheck();
app.UseAuthentication();
app.UseAuthorization();

app.MapHealth();
app.MapMetrics();
app.MapOperatorAuth();
app.MapOperators();
app.MapAudit();
app.MapCluster();
app.MapSensors();
app.MapMaintenance();
app.MapHeartbeats();
app.MapHeartbeatHistory();
app.MapImport();
app.MapAlerts();
app.MapChannels();
app.MapFleet();
app.MapUptime();
app.MapDashboardFeed();
app.MapAnalytics();
app.MapBench();

return await app.RunSensors360Async();
