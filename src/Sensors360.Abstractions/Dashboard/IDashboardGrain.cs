using Orleans.Concurrency;
using Sensors360.Abstractions.Alerts;

namespace Sensors360.Abstractions.Dashboard;

/// <summary>
/// The fleet aggregate (one grain, key 0) and the owner of the open alerts the dashboards show. Sensor
/// grains tell it about state changes and every alert change, never about single heartbeats; silos send
/// it heartbeat tallies at most once a second. It pushes the fleet with its open alerts to every silo's
/// feed, rebuilds itself from the database when it activates and reconciles with it periodically, so it
/// heals after any crash.
/// </summary>
public interface IDashboardGrain : IGrainWithIntegerKey
{
    Task<FleetSnapshot> GetFleet();

    /// <summary>The fleet and its newest open alerts, as the feeds receive them.</summary>
    Task<DashboardSnapshot> GetSnapshot();

    /// <summary>A sensor was provisioned, came online, went silent, recovered or retired.</summary>
    [OneWay]
    Task SensorChanged();

    /// <summary>An alert was raised, resolved or acknowledged.</summary>
    [OneWay]
    Task AlertChanged(Alert alert);

    /// <summary>One silo's heartbeat counts and intervals, per second.</summary>
    [OneWay]
    Task ReportHeartbeats(HeartbeatTallySecond[] seconds);

    /// <summary>Subscribes a silo's feed; subscriptions expire unless renewed within two minutes.</summary>
    Task Subscribe(IDashboardObserver observer);

    Task Unsubscribe(IDashboardObserver observer);
}

/// <summary>A silo's dashboard feed, told of every fleet change and every alert change.</summary>
public interface IDashboardObserver : IGrainObserver
{
    [OneWay]
    Task SnapshotChanged(DashboardSnapshot snapshot);

    [OneWay]
    Task AlertChanged(Alert alert);
}
