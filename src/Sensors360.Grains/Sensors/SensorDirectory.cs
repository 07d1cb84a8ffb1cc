using Microsoft.Extensions.Options;
using Npgsql;
using Sensors360.Abstractions.Sensors;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// Reads sensors for the API straight from the database, so lists never wake thousands of grains.
/// A sensor is silent exactly while its silence alert is open, which is what its grain decided. Its counters are
/// exact: the checkpoint plus the heartbeats stored after it (<c>sensor_status_rebuilt</c>, one probe per sensor read).
/// </summary>
public sealed class SensorDirectory(NpgsqlDataSource db, IOptions<MonitoringOptions> options)
{
    public async Task<SensorSnapshot?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"SELECT {SensorStatusView.Columns} FROM sensor_status_rebuilt WHERE name = $1");
        command.Parameters.AddWithValue(id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    /// <summary>Which of <paramref name="ids"/> name a sensor, retired ones included: one indexed query, no grain woken.</summary>
    public async Task<IReadOnlySet<string>> FindExistingAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        var existing = new HashSet<string>(StringComparer.Ordinal);
        if (ids.Count == 0)
        {
            return existing;
        }

        await using var command = db.CreateCommand("SELECT name FROM sensor WHERE name = ANY($1)");
        command.Parameters.AddWithValue(ids.ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            existing.Add(reader.GetString(0));
        }

        return existing;
    }

    /// <summary>One page in id order, after <paramref name="afterId"/> (keyset paging: stable under inserts, no offsets).</summary>
    public async Task<IReadOnlyList<SensorSnapshot>> ListAsync(
        SensorStatus? status, string? tag, string? afterId, int limit, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            SELECT {SensorStatusView.Columns} FROM sensor_status_rebuilt
            WHERE ($1::text IS NULL OR name > $1) AND ($2::text IS NULL OR tags @> ARRAY[$2::text]) AND ($3::text IS NULL OR status = $3)
            ORDER BY name
            LIMIT $4
            """);
        command.Parameters.AddWithValue((object?)afterId ?? DBNull.Value);
        command.Parameters.AddWithValue((object?)tag ?? DBNull.Value);
        command.Parameters.AddWithValue((object?)status?.ToString().ToLowerInvariant() ?? DBNull.Value);
        command.Parameters.AddWithValue(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var page = new List<SensorSnapshot>(limit);
        while (await reader.ReadAsync(cancellationToken))
        {
            page.Add(Read(reader));
        }

        return page;
    }

    private SensorSnapshot Read(NpgsqlDataReader reader)
    {
        var sensor = SensorStatusView.Read(reader);
        return sensor.ToSnapshot(options.Value.SilenceThreshold, sensor.ShownPausedUntil);
    }
}
