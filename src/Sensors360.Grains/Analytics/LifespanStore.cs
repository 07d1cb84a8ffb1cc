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
    /// <summary>The death rule in SQL over <c>sensor s</c>, with now as <c>$1</c> and the presumed-dead silence as <c>$2</c>.</summary>
    private const string FailedRule = "coalesce(s.retired_reason = 'failed', s.last_heartbeat_at < $1 - $2)";

    /// <summary>One observation per sensor that ever reported, optionally only those with <paramref name="tag"/>.</summary>
    public async Task<IReadOnlyList<LifespanObservation>> ReadAsync(string? tag, CancellationToken cancellationToken)
    {
        // date_part, not extract: it answers in float8, where extract's numeric doubles the cost of a 100,000-row scan.
        // MATERIALIZED: inlined, the percentile would be computed again for every sensor row.
        await using var command = db.CreateCommand($"""
            WITH resolution AS MATERIALIZED (SELECT coalesce(heartbeat_interval_percentile(0.5), 0) / 2 AS seconds)
            SELECT greatest(date_part('epoch', s.last_heartbeat_at - s.first_heartbeat_at), r.seconds, 0)::float8,
                   {FailedRule}
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

    /// <summary>
    /// Every sensor that ever reported, with what the same rule says of it now: the failure prediction learns from
    /// these lives, so its deaths are the lifespan's deaths.
    /// </summary>
    public async Task<IReadOnlyList<SensorLifeline>> ReadLifelinesAsync(CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"""
            SELECT s.id, s.name, s.first_heartbeat_at, s.last_heartbeat_at, {FailedRule}, s.retired_at
            FROM sensor s
            WHERE s.first_heartbeat_at IS NOT NULL
            """);
        command.Parameters.AddWithValue(clock.GetUtcNow());
        command.Parameters.AddWithValue(options.Value.PresumedDeadAfter);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var lifelines = new List<SensorLifeline>();
        while (await reader.ReadAsync(cancellationToken))
        {
            lifelines.Add(new SensorLifeline(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetFieldValue<DateTimeOffset>(2),
                reader.GetFieldValue<DateTimeOffset>(3),
                reader.GetBoolean(4),
                reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5)));
        }

        return lifelines;
    }
}
