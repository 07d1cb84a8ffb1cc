using Orleans.Concurrency;

namespace Sensors360.Abstractions.Dashboard;

/// <summary>
/// The fleet aggregate (one grain, key 0). Sensor grains tell it about state changes, never about single
/// heartbeats; silos send it heartbeat tallies at most once a second. It rebuilds itself from the
/// database when it activates and reconciles with it periodically, so it heals after any crash.
/// </summary>
public interface IDashboardGrain : IGrainWithIntegerKey
{
    Task<FleetSnapshot> GetFleet();

    /// <summary>A sensor was provisioned, came online, went silent, recovered or retired.</summary>
    [OneWay]
    Task SensorChanged();

    /// <summary>An alert was raised or resolved.</summary>
    [OneWay]
    Task AlertChanged(AlertNotice alert);

    /// <summary>One silo's heartbeat counts and intervals, per second.</summary>
    [OneWay]
    Task ReportHeartbeats(HeartbeatTallySecond[] seconds);

    /// <summary>Subscribes a silo's feed; subscriptions expire unless renewed within two minutes.</summary>
    Task Subscribe(IDashboardObserver observer);

    Task Unsubscribe(IDashboardObserver observer);
}

/// <summary>A silo's dashboard feed, told of every fleet change and every alert.</summary>
public interface IDashboardObserver : IGrainObserver
{
    [OneWay]
    Task FleetChanged(FleetSnapshot fleet);

    [OneWay]
    Task AlertChanged(AlertNotice alert);
}
