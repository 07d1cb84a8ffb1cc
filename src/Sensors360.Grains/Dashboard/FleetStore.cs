using Npgsql;
using Sensors360.Abstractions.Dashboard;

namespace Sensors360.Grains.Dashboard;

/// <summary>What the database says about the fleet as a whole: the truth the dashboard grain reconciles with.</summary>
public sealed record FleetRecord(
    SensorCounts Sensors,
    double IntervalSecondsSum,
    long Intervals,
    double? MedianIntervalSeconds,
    double? P95IntervalSeconds);

/// <summary>The fleet-wide SQL of the dashboard grain.</summary>
public sealed class FleetStore(NpgsqlDataSource db)
{
    /// <summary>
    /// The statement of <see cref="ReadAsync"/>: counts by status (as the view sensor_status defines it, the same as
    /// sensor reads), the all-time interval totals (each sensor's gaps sum to last − first) and the median and 95th
    /// percentile interval from the interval histogram (schema/0008). One scan of <c>sensor</c>. date_part, not
    /// extract: it answers in float8, where extract's numeric doubles the cost of the scan.
    /// </summary>
    public const string FleetStatement = """
        SELECT count(*),
               count(*) FILTER (WHERE status = 'pending'),
               count(*) FILTER (WHERE status = 'online'),
               count(*) FILTER (WHERE status = 'silent'),
               count(*) FILTER (WHERE status = 'retired'),
               coalesce(sum(date_part('epoch', last_heartbeat_at - first_heartbeat_at)) FILTER (WHERE heartbeat_count >= 2), 0)::float8,
               coalesce(sum(heartbeat_count - 1) FILTER (WHERE heartbeat_count >= 2), 0)::bigint,
               heartbeat_interval_percentile(0.5),
               heartbeat_interval_percentile(0.95),
               count(*) FILTER (WHERE status = 'paused')
        FROM sensor_status
        """;

    /// <summary>The fleet as the database counts it (<see cref="FleetStatement"/>).</summary>
    public async Task<FleetRecord> ReadAsync(CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // The view's maintenance-window subplans make the planner's estimate large even for a small fleet.
        await Jit.OffForTransactionAsync(connection, transaction, cancellationToken);

        await using var command = new NpgsqlCommand(FleetStatement, connection, transaction);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new FleetRecord(
            new SensorCounts((int)reader.GetInt64(0), (int)reader.GetInt64(1), (int)reader.GetInt64(2), (int)reader.GetInt64(3), (int)reader.GetInt64(4), (int)reader.GetInt64(9)),
            reader.GetDouble(5),
            reader.GetInt64(6),
            reader.IsDBNull(7) ? null : reader.GetDouble(7),
            reader.IsDBNull(8) ? null : reader.GetDouble(8));
    }

    /// <summary>
    /// The statement of <see cref="ReadRecentAsync"/> ($1 from, $2 until), public so the partition trial times the
    /// product's own. The previous heartbeat of a sensor may be older than the window: it looks back a while for it.
    /// </summary>
    public const string RecentTallyStatement = """
        SELECT floor(extract(epoch FROM received_at))::bigint AS second, count(*), coalesce(sum(gap), 0)::float8, count(gap)
        FROM (SELECT received_at,
                     extract(epoch FROM received_at - lag(received_at) OVER (PARTITION BY sensor_id ORDER BY received_at)) AS gap
              FROM heartbeat
              WHERE received_at >= $1 - interval '1 hour' AND received_at < $2) AS h
        WHERE received_at >= $1
        GROUP BY 1
        """;

    /// <summary>Per second since <paramref name="from"/>: heartbeats, and the intervals that ended in that second.</summary>
    public async Task<IReadOnlyList<HeartbeatTallySecond>> ReadRecentAsync(DateTimeOffset from, DateTimeOffset until, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(RecentTallyStatement);
        command.Parameters.AddWithValue(from);
        command.Parameters.AddWithValue(until);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var seconds = new List<HeartbeatTallySecond>();
        while (await reader.ReadAsync(cancellationToken))
        {
            seconds.Add(new HeartbeatTallySecond(reader.GetInt64(0), reader.GetInt64(1), reader.GetDouble(2), reader.GetInt64(3)));
        }

        return seconds;
    }
}
