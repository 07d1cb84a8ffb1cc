namespace Sensors360.Server.Database;

/// <summary>Settings under <c>Sensors360:Retention</c>: how long heartbeats stay in the database (<see cref="HeartbeatRetention"/>).</summary>
public sealed class RetentionOptions
{
    public const string Section = "Sensors360:Retention";

    public const int DefaultHeartbeatMonths = 13;

    /// <summary>
    /// A monthly heartbeat partition is archived and dropped once it ended this many months ago (at least 1):
    /// 13 keeps every heartbeat of the last 13 months, so a year can be compared with the one before.
    /// </summary>
    public int HeartbeatMonths { get; set; } = DefaultHeartbeatMonths;

    /// <summary>
    /// Where archived months are written, one gzip NDJSON file each, as an absolute path to an existing
    /// directory. Empty (the default): retention is off and nothing is ever dropped, since a month is only
    /// dropped after its archive is written.
    /// </summary>
    public string ArchiveDirectory { get; set; } = "";

    public bool Enabled => !string.IsNullOrWhiteSpace(ArchiveDirectory);
}
