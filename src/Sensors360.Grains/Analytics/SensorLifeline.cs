namespace Sensors360.Grains.Analytics;

/// <summary>
/// One sensor's life as the death rule sees it now (<see cref="LifespanStore"/>): its row id (<see cref="Key"/>, as
/// heartbeat rows name it), its public id, its first and last heartbeat, whether it failed (at its last heartbeat)
/// and when it was retired, if it was.
/// </summary>
public sealed record SensorLifeline(
    long Key, string Id, DateTimeOffset FirstHeartbeatAt, DateTimeOffset LastHeartbeatAt, bool Failed, DateTimeOffset? RetiredAt)
{
    /// <summary>
    /// Whether the sensor counted as live at a moment, given its last heartbeat by then: reporting, not retired and not
    /// yet presumed dead.
    /// </summary>
    public bool LiveAt(DateTimeOffset at, DateTimeOffset lastHeartbeatBy, TimeSpan presumedDeadAfter) =>
        FirstHeartbeatAt <= at && (RetiredAt is not { } retired || retired > at) && at - lastHeartbeatBy <= presumedDeadAfter;

    /// <summary>Whether it fails by <paramref name="by"/>: its last heartbeat, where a failure is dated, comes no later.</summary>
    public bool FailedBy(DateTimeOffset by) => Failed && LastHeartbeatAt <= by;
}
