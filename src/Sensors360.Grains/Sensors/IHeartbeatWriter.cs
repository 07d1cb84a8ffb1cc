namespace Sensors360.Grains.Sensors;

/// <summary>
/// Where sensor grains append heartbeats. <see cref="HeartbeatLog"/> in production; an interface so the
/// benchmark can register a writer that skips the database without the grain knowing.
/// </summary>
public interface IHeartbeatWriter
{
    /// <summary>Completes once the heartbeat is durable, or throws <see cref="HeartbeatLogUnavailableException"/>.</summary>
    Task AppendAsync(HeartbeatRecord record);
}
