using System.Diagnostics.Metrics;
using Sensors360.Server.Dashboard;

namespace Sensors360.Server.Metrics;

/// <summary>
/// The server's own gauges on the <see cref="MetricsHosting.MeterName"/> meter, read at each scrape from state the
/// silo keeps anyway: the fleet's open alerts from the dashboard grain's latest snapshot (no query per scrape), and
/// this silo's open dashboard sockets.
/// </summary>
internal sealed class ServerInstruments
{
    public const string OpenAlerts = "sensors360.alerts.open";

    public const string DashboardSockets = "sensors360.dashboard.sockets";

    public ServerInstruments(IMeterFactory meters, DashboardFeed feed, FeedSessions sessions)
    {
        var meter = meters.Create(MetricsHosting.MeterName);
        // The whole fleet's count, the same on every silo: a dashboard takes max() across silos, not sum().
        meter.CreateObservableGauge(
            OpenAlerts,
            () => feed.OpenAlerts is { } open ? [new Measurement<int>(open)] : Array.Empty<Measurement<int>>(),
            "{alert}",
            "Open alerts of the whole fleet, as of the dashboard grain's latest snapshot");
        meter.CreateObservableUpDownCounter(
            DashboardSockets,
            () => sessions.OpenSockets,
            "{socket}",
            "Dashboard feed sockets open on this silo");
    }
}
