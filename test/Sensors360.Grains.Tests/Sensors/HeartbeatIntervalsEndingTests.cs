using Npgsql;
using NpgsqlTypes;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// <c>heartbeat_intervals_ending</c> (schema/0017, 0018), the one definition of the intervals a checkpoint passes, against
/// intervals worked out by hand, over heartbeats on both sides of a month's partition boundary and with the
/// checkpoint's own row gone.
/// </summary>
public sealed class HeartbeatIntervalsEndingTests(ThrowawayPostgres postgres)
{
    // A sensor's heartbeats: 20 minutes, then 30, then 60 apart; the first in October's partition, the rest in November's.
    private static readonly DateTimeOffset T0 = new(2026, 10, 31, 23, 50, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset T1 = T0.AddMinutes(20);
    private static readonly DateTimeOffset T2 = T1.AddMinutes(30);
    private static readonly DateTimeOffset T3 = T2.AddMinutes(60);

    // after_at is always a checkpoint: the time of one of the sensor's heartbeats, whose row retention may have dropped.
    private static readonly (string Pass, long Sensor, DateTimeOffset? AfterAt, DateTimeOffset Upto, double[] Seconds)[] Passes =
    [
        ("from the first heartbeat", 7, null, T3, [1200, 1800, 3600]),
        ("from a heartbeat in the month before", 7, T0, T2, [1200, 1800]),
        ("from a heartbeat whose row is gone", 9, T0, T2, [1200, 1800]),
        ("up to the heartbeat it starts from", 7, T1, T1, []),
        ("up to a time between heartbeats", 7, T1, T3.AddMinutes(-1), [1800]),
        ("past the last heartbeat", 7, T1, T3.AddHours(1), [1800, 3600]),
        ("from the last heartbeat", 7, T3, T3.AddYears(1), []),
    ];

    [Fact]
    public async Task A_checkpoint_passes_exactly_the_intervals_that_end_after_it_and_up_to_its_new_place()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(A_checkpoint_passes_exactly_the_intervals_that_end_after_it_and_up_to_its_new_place));
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        Assert.Equal(1, await Sql.ScalarAsync(connectionString, "SELECT count(*) FROM (SELECT ensure_heartbeat_partitions('2026-10-01+00', 2)) AS made"));
        // Sensor 7 has all four heartbeats, 8 the same five minutes later, and 9 all but the first (as after retention).
        await using (var setUp = new NpgsqlCommand("""
            INSERT INTO heartbeat (sensor_id, received_at)
            SELECT 7, at FROM unnest($1::timestamptz[]) AS at
            UNION ALL SELECT 8, at + interval '5 minutes' FROM unnest($1::timestamptz[]) AS at
            UNION ALL SELECT 9, at FROM unnest($1::timestamptz[]) AS at WHERE at > $2
            """, connection))
        {
            setUp.Parameters.AddWithValue(new[] { T0, T1, T2, T3 });
            setUp.Parameters.AddWithValue(T0);
            await setUp.ExecuteNonQueryAsync();
        }

        Assert.Equal(2, await Sql.ScalarAsync(connectionString,
            "SELECT count(DISTINCT tableoid) FROM heartbeat WHERE sensor_id = 7 AND tableoid <> 'heartbeat_default'::regclass"));
        foreach (var (pass, sensor, afterAt, upto, expected) in Passes)
        {
            await using var read = new NpgsqlCommand("SELECT seconds FROM heartbeat_intervals_ending($1, $2, $3) ORDER BY seconds", connection);
            read.Parameters.AddWithValue(sensor);
            read.Parameters.Add(new NpgsqlParameter { Value = afterAt is { } at ? at : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            read.Parameters.AddWithValue(upto);
            var seconds = new List<double>();
            await using (var reader = await read.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    seconds.Add(reader.GetDouble(0));
                }
            }

            Assert.True(expected.Order().SequenceEqual(seconds), $"{pass}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", seconds)}]");
        }
    }
}
