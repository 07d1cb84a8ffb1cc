using Npgsql;
using NpgsqlTypes;

namespace Sensors360.Grains.Prediction;

/// <summary>Reads the heartbeat history the failure prediction learns from, one sensor's timeline at a time.</summary>
public sealed class HeartbeatTimelineStore(NpgsqlDataSource db)
{
    /// <summary>How many recent heartbeats are looked at to find the metrics sensors send.</summary>
    private const int MetricSample = 10_000;

    /// <summary>
    /// The numeric metrics most heartbeats since <paramref name="since"/> carry, most common first, at most
    /// <paramref name="limit"/>: those are the ones whose trends the model can learn from.
    /// </summary>
    public async Task<string[]> ChooseMetricsAsync(DateTimeOffset since, int limit, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            SELECT e.key
            FROM (SELECT metrics FROM heartbeat
                  WHERE received_at >= $1 AND jsonb_typeof(metrics) = 'object'
                  ORDER BY received_at DESC LIMIT $2) h
            CROSS JOIN LATERAL jsonb_each(h.metrics) e
            WHERE jsonb_typeof(e.value) = 'number'
            GROUP BY e.key
            HAVING count(*) >= $2 / 100
            ORDER BY count(*) DESC, e.key
            LIMIT $3
            """);
        command.Parameters.AddWithValue(since);
        command.Parameters.AddWithValue(MetricSample);
        command.Parameters.AddWithValue(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var keys = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            keys.Add(reader.GetString(0));
        }

        return [.. keys];
    }

    /// <summary>The fleet's median interval between consecutive heartbeats, in seconds; null before there is one.</summary>
    public async Task<double?> FleetMedianIntervalAsync(CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("SELECT heartbeat_interval_percentile(0.5)");
        return await command.ExecuteScalarAsync(cancellationToken) is double seconds ? seconds : null;
    }

    /// <summary>
    /// Hands every sensor's heartbeats in (<paramref name="from"/>, <paramref name="to"/>] to <paramref name="visit"/>,
    /// one complete timeline at a time, with the values of <paramref name="metrics"/>; the timeline is reused after
    /// <paramref name="visit"/> returns. Memory stays at one sensor's heartbeats however large the history. Synchronous,
    /// so it runs wholly on the caller's thread (a <see cref="LowPriorityThread"/>) and the read goes at its pace.
    /// </summary>
    public void Read(DateTimeOffset from, DateTimeOffset to, IReadOnlyList<string> metrics, Action<HeartbeatTimeline> visit, CancellationToken cancellationToken)
    {
        var values = string.Concat(metrics.Select((_, m) =>
            $", CASE WHEN jsonb_typeof(metrics -> ${m + 3}) = 'number' THEN (metrics ->> ${m + 3})::float8 END"));
        using var command = db.CreateCommand($"""
            SELECT sensor_id, date_part('epoch', received_at){values}
            FROM heartbeat
            WHERE received_at > $1 AND received_at <= $2
            ORDER BY sensor_id, received_at
            """);
        // A long history streams for longer than any statement timeout meant for requests; cancellation still stops it.
        command.CommandTimeout = 0;
        command.Parameters.AddWithValue(from);
        command.Parameters.AddWithValue(to);
        foreach (var metric in metrics)
        {
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = metric });
        }

        using var cancel = cancellationToken.Register(command.Cancel);
        using var reader = command.ExecuteReader();
        var timeline = new HeartbeatTimeline(metrics.Count);
        var row = new float[metrics.Count];
        var any = false;
        while (reader.Read())
        {
            var sensor = reader.GetInt64(0);
            if (!any || sensor != timeline.SensorKey)
            {
                if (any)
                {
                    visit(timeline);
                }

                timeline.Reset(sensor);
                any = true;
            }

            for (var m = 0; m < metrics.Count; m++)
            {
                row[m] = reader.IsDBNull(m + 2) ? float.NaN : (float)reader.GetDouble(m + 2);
            }

            timeline.Add(reader.GetDouble(1), row);
        }

        if (any)
        {
            visit(timeline);
        }
    }
}
