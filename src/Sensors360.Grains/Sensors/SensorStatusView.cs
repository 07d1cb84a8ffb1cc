using Npgsql;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Sensors;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// The one reader of the <c>sensor_status</c> view (schema/0005, 0006, 0007, 0014), where the status rule lives, and of
/// <c>sensor_status_rebuilt</c> (schema/0016: the same, its counters completed from the heartbeats past the checkpoint):
/// retired, else paused during its own pause or a maintenance window of one of its tags, else silent while a
/// silence alert is open, else pending before the first heartbeat, else online. The record's status is the
/// view's <c>lifecycle_status</c> (the same rule without pauses), which a grain works from; the pause is beside it.
/// </summary>
internal static class SensorStatusView
{
    public const string Columns = """
        id, name, tags, lifecycle_status, created_at, first_heartbeat_at, last_heartbeat_at, heartbeat_count, retired_at,
        silence_threshold_seconds, token_hash, open_alert_id, open_alert_kind, open_alert_silent_since,
        open_alert_raised_at, open_alert_acknowledged_at, open_alert_acknowledged_by, retired_reason,
        own_paused_until, paused_until
        """;

    /// <summary>How many columns <see cref="Columns"/> names; a query may read its own after them.</summary>
    public const int ColumnCount = 20;

    /// <summary>One row of <c>SELECT {Columns} FROM sensor_status</c>.</summary>
    public static SensorRecord Read(NpgsqlDataReader reader)
    {
        var name = reader.GetString(1);
        return new SensorRecord(
            reader.GetInt64(0),
            name,
            reader.GetFieldValue<string[]>(2),
            Enum.Parse<SensorStatus>(reader.GetString(3), ignoreCase: true),
            reader.GetFieldValue<DateTimeOffset>(4),
            reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
            reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
            reader.GetInt64(7),
            reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTimeOffset>(8),
            reader.IsDBNull(9) ? null : reader.GetInt32(9),
            reader.GetString(10),
            reader.IsDBNull(11)
                ? null
                : new Alert(
                    reader.GetInt64(11),
                    name,
                    reader.GetString(12),
                    reader.GetFieldValue<DateTimeOffset>(13),
                    reader.GetFieldValue<DateTimeOffset>(14),
                    ResolvedAt: null,
                    reader.IsDBNull(15) ? null : reader.GetFieldValue<DateTimeOffset>(15),
                    reader.IsDBNull(16) ? null : reader.GetString(16)),
            reader.IsDBNull(17) ? null : Enum.Parse<RetirementReason>(reader.GetString(17), ignoreCase: true),
            reader.IsDBNull(18) ? null : reader.GetFieldValue<DateTimeOffset>(18),
            reader.IsDBNull(19) ? null : reader.GetFieldValue<DateTimeOffset>(19));
    }
}
