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
/// Sensors that never sent a heartbeat have no lifespan yet. A lifespan is only seen to within a heartbeat
/// interval, so one shorter than half the fleet's median interval (a single heartbeat, say) counts as that
/// half: as 0 s it would weigh on a Weibull fit as if the sensor had died in an instant.
/// </summary>
public sealed class LifespanStore(
    NpgsqlDataSource db, IOptions<AnalyticsOptions> options, [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock)
{
    /// <summary>One observation per sensor that ever reported, optionally only those with <paramref name="tag"/>.</summary>
    public async Task<IReadOnlyList<LifespanObservation>> ReadAsync(string? tag, CancellationToken cancellationToken)
    {
        // date_part, not extract: it answers in float8, where extract's numeric doubles the cost of a 100,000-row scan.
        // MATERIALIZED: inlined, the percentile would be computed again for every sensor row.
        await using var command = db.CreateCommand("""
            WITH resolution AS MATERIALIZED (SELECT coalesce(heartbeat_interval_percentile(0.5), 0) / 2 AS seconds)
            SELECT greatest(date_part('epoch', s.last_heartbeat_at - s.first_heartbeat_at), r.seconds, 0)::float8,
                   coalesce(s.retired_reason = 'failed', s.last_heartbeat_at < $1 - $2)
            FROM sensor s CROSS JOIN resolution r
            WHERE s.first_heartbeat_at IS NOT NULL AND ($3::text IS NULL OR s.tags @> ARRAY[$3::text])
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
