namespace Sensors360.Server.Sensors;

/// <summary>Settings under <c>Sensors360:Ingest</c>: the heartbeat routes' limits, each kept by every silo for itself.</summary>
public sealed class IngestOptions
{
    public const string Section = "Sensors360:Ingest";

    /// <summary>Heartbeat requests one sensor may make per second on one silo (the live and the buffered route together); more get 429.</summary>
    public int MaxHeartbeatsPerSecond { get; set; } = 5;

    /// <summary>Refused heartbeats (unknown id or wrong token) one client address may cause per minute on one silo; then its heartbeats get 429.</summary>
    public int MaxRefusedHeartbeatsPerMinute { get; set; } = 60;
}
