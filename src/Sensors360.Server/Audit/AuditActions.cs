using System.Text.RegularExpressions;

namespace Sensors360.Server.Audit;

/// <summary>The actions <c>audit_event.action</c> records, as <c>GET /api/audit?action=</c> filters them.</summary>
public static partial class AuditActions
{
    public const string LoginSucceeded = "login.succeeded";
    public const string LoginFailed = "login.failed";
    public const string SensorProvisioned = "sensor.provisioned";
    public const string SensorsBulkProvisioned = "sensor.bulk_provisioned";
    public const string SensorRetired = "sensor.retired";
    public const string SensorTokenRotated = "sensor.token_rotated";
    public const string SensorPaused = "sensor.paused";
    public const string SensorResumed = "sensor.resumed";
    public const string MaintenanceCreated = "maintenance.created";
    public const string MaintenanceChanged = "maintenance.changed";
    public const string MaintenanceDeleted = "maintenance.deleted";
    public const string AlertAcknowledged = "alert.acknowledged";
    public const string OperatorCreated = "operator.created";
    public const string OperatorChanged = "operator.changed";
    public const string OperatorPasswordReset = "operator.password_reset";
    public const string PasswordChanged = "password.changed";
    public const string ImportHeartbeats = "import.heartbeats";
    public const string ChannelCreated = "channel.created";
    public const string ChannelChanged = "channel.changed";
    public const string ChannelDeleted = "channel.deleted";

    /// <summary>The shape of an action name (the table's check says the same), for the filter's 400.</summary>
    public static bool IsWellFormed(string action) => Shape().IsMatch(action);

    [GeneratedRegex(@"^[a-z_]{1,32}\.[a-z_]{1,32}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();
}
