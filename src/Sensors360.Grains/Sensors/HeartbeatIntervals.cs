using Npgsql;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// The SQL of the <c>heartbeat_interval_histogram</c> table (schema/0008): every interval between two
/// consecutive heartbeats of a sensor is counted there, in the same transaction as the heartbeat that
/// ends it, so the median and the 95th percentile are read from a few hundred rows (the SQL function
/// <c>heartbeat_interval_percentile</c>, which the fleet aggregate calls).
/// </summary>
public static class HeartbeatIntervals
{
    /// <summary>The shard history imports add to; heartbeat writers take random positive ones.</summary>
    public const int ImportShard = 0;

    /// <summary>A new shard for one heartbeat writer: its rows are written by nobody else.</summary>
    public static int NewShard() => Random.Shared.Next(1, int.MaxValue);

    /// <summary>
    /// Counts (<paramref name="sign"/> 1) or takes out (−1), in the import shard, every interval between
    /// consecutive stored heartbeats of each sensor within its span of <paramref name="spansTable"/>
    /// (<c>sensor_id, lo, hi</c>). An import takes out its spans' intervals before it inserts and counts them
    /// again after, so the heartbeats it places between stored ones split their intervals exactly.
    /// </summary>
    public static NpgsqlCommand RecountSpansCommand(string spansTable, int sign, NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        var command = new NpgsqlCommand($"""
            INSERT INTO heartbeat_interval_histogram AS h (shard, bucket, intervals)
            SELECT $1, heartbeat_interval_bucket(g.gap), $2 * count(*)
            FROM (SELECT extract(epoch FROM x.received_at - lag(x.received_at) OVER (PARTITION BY x.sensor_id ORDER BY x.received_at))::float8 AS gap
                  FROM heartbeat x JOIN {spansTable} s ON x.sensor_id = s.sensor_id AND x.received_at BETWEEN s.lo AND s.hi) AS g
            WHERE g.gap IS NOT NULL
            GROUP BY 2
            ON CONFLICT (shard, bucket) DO UPDATE SET intervals = h.intervals + excluded.intervals
            """, connection, transaction);
        command.Parameters.AddWithValue(ImportShard);
        command.Parameters.AddWithValue((long)sign);
        return command;
    }

    /// <summary>Counts the given intervals (seconds) in <paramref name="shard"/>.</summary>
    public static NpgsqlBatchCommand CountCommand(int shard, double[] intervalSeconds, long[] counts)
    {
        var command = new NpgsqlBatchCommand("""
            INSERT INTO heartbeat_interval_histogram AS h (shard, bucket, intervals)
            SELECT $1, heartbeat_interval_bucket(i.seconds), sum(i.n)
            FROM unnest($2::float8[], $3::bigint[]) AS i (seconds, n)
            GROUP BY 2
            ON CONFLICT (shard, bucket) DO UPDATE SET intervals = h.intervals + excluded.intervals
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = shard });
        command.Parameters.Add(new NpgsqlParameter { Value = intervalSeconds });
        command.Parameters.Add(new NpgsqlParameter { Value = counts });
        return command;
    }
}
