using Npgsql;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>
/// The interval histogram's truth, taken from the heartbeat rows: the intervals between a sensor's stored heartbeats,
/// worked out here from their times and each put in its bucket by the schema's bucket function; and the histogram itself,
/// summed over its shards.
/// </summary>
internal static class StoredIntervals
{
    public static async Task<List<DateTimeOffset>> TimesAsync(string database, string sensor)
    {
        await using var db = NpgsqlDataSource.Create(database);
        await using var command = db.CreateCommand(
            "SELECT h.received_at FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = $1 ORDER BY 1");
        command.Parameters.AddWithValue(sensor);
        await using var reader = await command.ExecuteReaderAsync();
        var times = new List<DateTimeOffset>();
        while (await reader.ReadAsync())
        {
            times.Add(reader.GetFieldValue<DateTimeOffset>(0));
        }

        return times;
    }

    /// <summary>The intervals between the stored heartbeats of <paramref name="sensors"/> (ending at or before <paramref name="upTo"/>), by bucket.</summary>
    public static async Task<SortedDictionary<short, long>> BucketsOfStoredAsync(string database, IEnumerable<string> sensors, DateTimeOffset? upTo = null)
    {
        var seconds = new List<double>();
        foreach (var sensor in sensors)
        {
            var times = (await TimesAsync(database, sensor)).Where(at => upTo is null || at <= upTo).ToList();
            seconds.AddRange(times.Skip(1).Select((at, i) => (at - times[i]).TotalSeconds));
        }

        return await BucketsAsync(database, seconds);
    }

    /// <summary>These intervals (seconds), by bucket.</summary>
    public static async Task<SortedDictionary<short, long>> BucketsAsync(string database, IEnumerable<double> seconds)
    {
        var buckets = new SortedDictionary<short, long>();
        await using var db = NpgsqlDataSource.Create(database);
        foreach (var interval in seconds)
        {
            await using var command = db.CreateCommand("SELECT heartbeat_interval_bucket($1)");
            command.Parameters.AddWithValue(interval);
            var bucket = (short)(await command.ExecuteScalarAsync())!;
            buckets[bucket] = buckets.GetValueOrDefault(bucket) + 1;
        }

        return buckets;
    }

    /// <summary>The histogram as readers see it: each bucket summed over the shards, empty buckets left out.</summary>
    public static async Task<SortedDictionary<short, long>> HistogramAsync(string database)
    {
        await using var db = NpgsqlDataSource.Create(database);
        await using var command = db.CreateCommand(
            "SELECT bucket, sum(intervals)::bigint FROM heartbeat_interval_histogram GROUP BY bucket HAVING sum(intervals) <> 0");
        await using var reader = await command.ExecuteReaderAsync();
        var buckets = new SortedDictionary<short, long>();
        while (await reader.ReadAsync())
        {
            buckets[reader.GetInt16(0)] = reader.GetInt64(1);
        }

        return buckets;
    }
}
