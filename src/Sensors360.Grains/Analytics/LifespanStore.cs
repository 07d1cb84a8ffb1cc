using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Analytics;

/// <summary>
/// The fleet's lifespans as observations, where deaths and censoring are defined once (docs/analytics.md):
/// a sensor's lifespan runs from its first heartbeat to its last; it failed when it was retired with reason
/// <c>failed</c>, or is not retired and has been silent for longer than
/// <see cref="AnalyticsOptions.PresumedDeadAfter"/>; otherwise it is censored at its last heartbeat.
/// Sensors that never sent a heartbeat have no lifespan yet.
/// </summary>
public sealed class LifespanStore(
    NpgsqlDataSource db, IOptions<AnalyticsOptions> options, [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock)
{
    /// <summary>One observation per sensor that ever reported, optionally only those with <paramref name="tag"/>.</summary>
    public async Task<IReadOnlyList<LifespanObservation>> ReadAsync(string? tag, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("""
            SELECT greatest(extract(epoch FROM last_heartbeat_at - first_heartbeat_at), 0)::float8,
                   coalesce(retired_reason = 'failed', last_heartbeat_at < $1 - $2)
            FROM sensor
            WHERE first_heartbeat_at IS NOT NULL AND ($3::text IS NULL OR tags @> ARRAY[$3::text])
            """);
        command.Parameters.AddWithValue(clock.GetUtcNow());
        command.Parameters.AddWithValue(options.Value.PresumedDeadAfter);
        command.Parameters.AddWithValue((object?)tag ?? DBNull.Value);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var observations = new List<LifespanObservation>();
        while (await reader.ReadAsync(cancellationToken))
        {
            observations.Add(new LifespanObservation(reader.GetDouble(0), reader.GetBoolean(1)));
        }

        return observations;
    }
}
