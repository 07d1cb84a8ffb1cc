using Microsoft.Extensions.Options;
using Npgsql;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Analytics;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Analytics;
using Sensors360.Grains.Tests.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Dashboard;

/// <summary>The fleet aggregate equals what SQL over the database says, whatever happened and after the grain restarts.</summary>
public sealed class DashboardGrainTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Fleet_numbers_equal_sql_after_a_storm_silences_retirements_and_a_restart_of_the_grain()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(Fleet_numbers_equal_sql_after_a_storm_silences_retirements_and_a_restart_of_the_grain));
        var dashboard = fleet.Cluster.Client.GetGrain<IDashboardGrain>(0);
        var tokens = new Dictionary<string, string>();
        for (var i = 0; i < 8; i++)
        {
            tokens[$"agg-{i}"] = await fleet.ProvisionAsync($"agg-{i}", thresholdSeconds: i < 3 ? 30 : null);
        }

        await fleet.ProvisionAsync("never-reports");
        await AssertMatchesSqlAsync(dashboard, fleet.Db);

        // A storm: every sensor reports at uneven intervals, concurrently.
        for (var round = 0; round < 5; round++)
        {
            fleet.Advance(TimeSpan.FromSeconds(3 + round));
            var results = await Task.WhenAll(tokens.Select(pair => fleet.HeartbeatAsync(pair.Key, pair.Value)));
            Assert.All(results, result => Assert.Equal(HeartbeatResult.Stored, result));
        }

        await AssertMatchesSqlAsync(dashboard, fleet.Db);

        // The three sensors with a 30 s threshold go silent; the others keep reporting.
        fleet.Advance(TimeSpan.FromSeconds(31));
        foreach (var (id, token) in tokens.Where(pair => pair.Key is not ("agg-0" or "agg-1" or "agg-2")))
        {
            Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync(id, token));
        }

        for (var i = 0; i < 3; i++)
        {
            await fleet.WaitForStatusAsync($"agg-{i}", SensorStatus.Silent);
        }

        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("agg-3").Retire(new SensorRetirement(RetirementReason.Failed, At: null)));
        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("agg-0").Retire(new SensorRetirement(RetirementReason.Failed, At: null)));
        var settled = await AssertMatchesSqlAsync(dashboard, fleet.Db);
        Assert.Equal(new SensorCounts(9, 1, 4, 2, 2), settled.Sensors);
        Assert.Equal(2, settled.OpenAlerts);

        // A new activation rebuilds everything from the database.
        // The lifespan is refreshed every 30 s by its own grain: restarted too, so it is computed now.
        await fleet.Cluster.DeactivateAsync(fleet.Cluster.Client.GetGrain<ILifespanGrain>(ILifespanGrain.WholeFleet));
        await fleet.Cluster.DeactivateAsync(dashboard);
        var restarted = await AssertMatchesSqlAsync(dashboard, fleet.Db);
        Assert.Equal(WithoutLifespan(settled), WithoutLifespan(restarted));

        // The fleet's lifespan is the estimate over the store's observations.
        var expected = LifespanEstimate.From(await new LifespanStore(fleet.Db, Options.Create(new AnalyticsOptions()), fleet.Clock)
            .ReadAsync(tag: null, CancellationToken.None));
        Assert.Equal(2, expected.Failed);
        Assert.Equal(expected.MeanSeconds is { } mean ? Math.Round(mean, 1) : null, restarted.MeanLifespanSeconds);
        Assert.Equal(expected.MeanCi95 is { } ci ? [Math.Round(ci.Low, 1), Math.Round(ci.High, 1)] : null, restarted.MeanLifespanCi95);
    }

    private static FleetSnapshot WithoutLifespan(FleetSnapshot fleet) => fleet with { At = default, MeanLifespanSeconds = null, MeanLifespanCi95 = null };

    [Fact]
    public async Task The_median_and_95th_percentile_interval_ignore_a_silent_spell_that_drags_the_mean()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(The_median_and_95th_percentile_interval_ignore_a_silent_spell_that_drags_the_mean));
        var dashboard = fleet.Cluster.Client.GetGrain<IDashboardGrain>(0);
        var tick = await fleet.ProvisionAsync("tick");
        var slow = await fleet.ProvisionAsync("slow", thresholdSeconds: 600);
        var outage = await fleet.ProvisionAsync("outage");

        // tick: 41 beats 5 s apart; slow: 11 beats 60 s apart; outage: 10 beats 5 s apart, two days of
        // silence, then one more. Intervals: 49 × 5 s, 10 × 60 s, 1 × 172,800 s.
        // Median (30th of 60): 5 s. 95th percentile (57th of 60): 60 s. Mean: (245 + 600 + 172,800) / 60 ≈ 2,894.08 s.
        for (var second = 0; second <= 600; second += 5)
        {
            if (second <= 200)
            {
                Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("tick", tick));
            }

            if (second % 60 == 0)
            {
                Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("slow", slow));
            }

            if (second < 50)
            {
                Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("outage", outage));
            }

            fleet.Advance(TimeSpan.FromSeconds(5));
        }

        fleet.Advance(TimeSpan.FromSeconds(45) + TimeSpan.FromDays(2) - TimeSpan.FromSeconds(605));
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("outage", outage));
        Assert.Equal(60, await fleet.ScalarAsync("SELECT sum(heartbeat_count - 1) FROM sensor_status_rebuilt"));

        FleetSnapshot? snapshot = null;
        double? previousMean = null;
        await Eventually.TrueAsync(
            async () =>
            {
                fleet.Advance(TimeSpan.FromSeconds(6)); // past the reconcile period of the dashboard's clock
                // The fleet's totals come from the checkpointed sensor rows: right only once the checkpoint has
                // written every heartbeat (within its period, on the same clock).
                if (await fleet.ScalarAsync("SELECT coalesce(sum(heartbeat_count - 1), 0) FROM sensor WHERE heartbeat_count > 0") != 60)
                {
                    return false;
                }

                snapshot = await dashboard.GetFleet();
                // Two reconciles in a row agree: a silo's tally that arrives after the reconcile which already read
                // its heartbeats counts them twice until the next one.
                var settled = snapshot.MeanHeartbeatIntervalSeconds == previousMean;
                previousMean = snapshot.MeanHeartbeatIntervalSeconds;
                return settled && snapshot.P95HeartbeatIntervalSeconds is not null && snapshot.MeanHeartbeatIntervalSeconds > 2_000;
            },
            Patience,
            "the fleet's intervals are counted");
        // To the histogram's bucket: within 4.5%.
        Assert.InRange(snapshot!.MedianHeartbeatIntervalSeconds!.Value, 5 * 0.955, 5 * 1.045);
        Assert.InRange(snapshot.P95HeartbeatIntervalSeconds!.Value, 60 * 0.955, 60 * 1.045);
        Assert.InRange(snapshot.MeanHeartbeatIntervalSeconds!.Value, 2_894.0, 2_894.2);
    }

    [Fact]
    public async Task Open_alerts_in_the_snapshot_follow_raises_acknowledgements_resolutions_and_a_restart_of_the_grain()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(Open_alerts_in_the_snapshot_follow_raises_acknowledgements_resolutions_and_a_restart_of_the_grain));
        var dashboard = fleet.Cluster.Client.GetGrain<IDashboardGrain>(0);
        var tokens = new Dictionary<string, string>();
        foreach (var id in new[] { "open-0", "open-1", "open-2" })
        {
            tokens[id] = await fleet.ProvisionAsync(id, thresholdSeconds: 30);
            Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync(id, tokens[id]));
        }

        fleet.Advance(TimeSpan.FromSeconds(31));
        foreach (var id in tokens.Keys)
        {
            await fleet.WaitForStatusAsync(id, SensorStatus.Silent);
        }

        var raised = await OpenAlertsMatchSqlAsync(dashboard, fleet.Db, expected: 3);
        Assert.All(raised, alert => Assert.Null(alert.AcknowledgedBy));

        // An acknowledgement through the sensor's grain; a sensor cannot acknowledge another's alert.
        await fleet.ScalarAsync("INSERT INTO app_user (username, password_hash) VALUES ('ops', 'x') RETURNING id");
        var alertOf0 = raised.Single(alert => alert.SensorId == "open-0");
        Assert.Equal(SensorCommandResult.NotFound, (await fleet.Sensor("open-1").AcknowledgeAlert(alertOf0.Id, "ops")).Result);
        var acknowledgement = await fleet.Sensor("open-0").AcknowledgeAlert(alertOf0.Id, "ops");
        Assert.Equal(SensorCommandResult.Done, acknowledgement.Result);
        Assert.Equal("ops", acknowledgement.Alert!.AcknowledgedBy);
        Assert.Equal(fleet.Clock.GetUtcNow(), acknowledgement.Alert.AcknowledgedAt);

        // A heartbeat resolves open-1's alert.
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("open-1", tokens["open-1"]));
        var settled = await OpenAlertsMatchSqlAsync(dashboard, fleet.Db, expected: 2);
        Assert.Equal("ops", settled.Single(alert => alert.SensorId == "open-0").AcknowledgedBy);

        // A new activation loads the same open alerts, acknowledgement included.
        await fleet.Cluster.DeactivateAsync(dashboard);
        Assert.Equal(settled, await OpenAlertsMatchSqlAsync(dashboard, fleet.Db, expected: 2));
    }

    [Fact]
    public async Task Alert_changes_that_arrive_late_do_not_undo_a_resolution_or_an_acknowledgement()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(Alert_changes_that_arrive_late_do_not_undo_a_resolution_or_an_acknowledgement));
        var dashboard = fleet.Cluster.Client.GetGrain<IDashboardGrain>(0);
        // The alert is in the database, acknowledged, as its sensor grain would have left it: the grain's
        // periodic reconcile then agrees with the messages instead of dropping what they said.
        await fleet.ProvisionAsync("late-1");
        var at = fleet.Clock.GetUtcNow();
        await fleet.ScalarAsync("INSERT INTO app_user (username, password_hash) VALUES ('ops', 'x') RETURNING id");
        var id = await fleet.ScalarAsync("""
            INSERT INTO alert (sensor_id, kind, silent_since, raised_at, acknowledged_at, acknowledged_by)
            SELECT s.id, 'silent', $1, $1, $2, u.id FROM sensor s, app_user u WHERE s.name = 'late-1' AND u.username = 'ops'
            RETURNING id
            """, at, at.AddSeconds(1));
        var frames = new AlertFrames();
        var reference = fleet.Cluster.Client.CreateObjectReference<IDashboardObserver>(frames);
        await dashboard.Subscribe(reference);
        var raised = new Alert(id, "late-1", Alert.Silent, at, at, ResolvedAt: null, AcknowledgedAt: null, AcknowledgedBy: null);
        var acknowledged = raised with { AcknowledgedAt = at.AddSeconds(1), AcknowledgedBy = "ops" };
        var resolved = acknowledged with { ResolvedAt = at.AddSeconds(2) };

        // The grain holds the acknowledged alert (its reconcile read it), so what follows meets it in any order:
        // these calls are one-way and may overtake each other.
        await Eventually.TrueAsync(async () => (await dashboard.GetSnapshot()).Alerts.Contains(acknowledged), Patience, "the acknowledged alert held");

        // Acknowledged again, then a stale unacknowledged copy: the copy is not passed on.
        await dashboard.AlertChanged(acknowledged);
        await dashboard.AlertChanged(raised);
        // Resolved (without the acknowledgement, as a sensor grain that loaded before it might send it), then a stale raise.
        await dashboard.AlertChanged(raised with { ResolvedAt = at.AddSeconds(2) });
        await dashboard.AlertChanged(raised);
        await dashboard.GetSnapshot();

        await Eventually.TrueAsync(() => Task.FromResult(Snapshot(frames).Contains(resolved)), Patience, "the resolution's frame");
        await dashboard.GetSnapshot();
        // The acknowledgement's frame is passed on unless the grain's reconcile read it from the database first (then
        // it is no news); the resolution keeps the acknowledgement; the stale copies never arrive.
        Assert.All(Snapshot(frames), frame => Assert.True(frame == acknowledged || frame == resolved, frame.ToString()));
        Assert.Single(Snapshot(frames), frame => frame == resolved);
        fleet.Cluster.Client.DeleteObjectReference<IDashboardObserver>(reference);
    }

    private static Alert[] Snapshot(AlertFrames frames)
    {
        lock (frames.Received)
        {
            return [.. frames.Received];
        }
    }

    private sealed class AlertFrames : IDashboardObserver
    {
        public List<Alert> Received { get; } = [];

        public Task SnapshotChanged(DashboardSnapshot snapshot) => Task.CompletedTask;

        public Task AlertChanged(Alert alert)
        {
            lock (Received)
            {
                Received.Add(alert);
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>Polls until the snapshot's alerts are the open alerts SQL lists (newest first), then returns them.</summary>
    private static async Task<Alert[]> OpenAlertsMatchSqlAsync(IDashboardGrain dashboard, NpgsqlDataSource db, int expected)
    {
        Alert[] alerts = [];
        await Eventually.TrueAsync(
            async () =>
            {
                var sql = await OpenAlertsBySqlAsync(db);
                var snapshot = await dashboard.GetSnapshot();
                alerts = snapshot.Alerts;
                return sql.Count == expected && snapshot.Fleet.OpenAlerts == expected
                    && alerts.Select(alert => (alert.Id, alert.SensorId, alert.AcknowledgedBy, alert.ResolvedAt)).SequenceEqual(sql);
            },
            Patience,
            $"the snapshot lists the {expected} open alerts SQL lists");
        return alerts;
    }

    private static async Task<List<(long, string, string?, DateTimeOffset?)>> OpenAlertsBySqlAsync(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("""
            SELECT a.id, s.name, u.username FROM alert a JOIN sensor s ON s.id = a.sensor_id LEFT JOIN app_user u ON u.id = a.acknowledged_by
            WHERE a.resolved_at IS NULL ORDER BY a.raised_at DESC, a.id DESC
            """);
        await using var reader = await command.ExecuteReaderAsync();
        var open = new List<(long, string, string?, DateTimeOffset?)>();
        while (await reader.ReadAsync())
        {
            open.Add((reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), null));
        }

        return open;
    }

    /// <summary>Polls until the grain's numbers equal SQL's (they follow state changes within a second), then returns them.</summary>
    private static async Task<FleetSnapshot> AssertMatchesSqlAsync(IDashboardGrain dashboard, NpgsqlDataSource db)
    {
        FleetSnapshot? last = null;
        FleetSnapshot? expected = null;
        try
        {
            await Eventually.TrueAsync(
                async () =>
                {
                    expected = await ExpectedAsync(db);
                    last = await dashboard.GetFleet();
                    return Same(last, expected);
                },
                Patience,
                "the dashboard's fleet numbers equal SQL's");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message} Grain: {last}; SQL: {expected}", e);
        }

        return last!;
    }

    private static bool Same(FleetSnapshot grain, FleetSnapshot sql) =>
        grain.Sensors == sql.Sensors
        && grain.SilentPercent == sql.SilentPercent
        && grain.MeanHeartbeatIntervalSeconds == sql.MeanHeartbeatIntervalSeconds
        && grain.OpenAlerts == sql.OpenAlerts;

    /// <summary>The same numbers written independently, from each sensor's status.</summary>
    private static async Task<FleetSnapshot> ExpectedAsync(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("""
            WITH status AS (
                SELECT s.*, CASE WHEN s.retired_at IS NOT NULL THEN 'retired'
                                 WHEN EXISTS (SELECT 1 FROM alert a WHERE a.sensor_id = s.id AND a.resolved_at IS NULL) THEN 'silent'
                                 WHEN s.first_heartbeat_at IS NULL THEN 'pending'
                                 ELSE 'online' END AS status
                FROM sensor s)
            SELECT count(*), count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'online'),
                   count(*) FILTER (WHERE status = 'silent'), count(*) FILTER (WHERE status = 'retired'),
                   sum(extract(epoch FROM last_heartbeat_at - first_heartbeat_at)) FILTER (WHERE heartbeat_count > 1)::float8
                       / nullif(sum(heartbeat_count - 1) FILTER (WHERE heartbeat_count > 1), 0),
                   (SELECT count(*) FROM alert WHERE resolved_at IS NULL)
            FROM status
            """);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var counts = new SensorCounts((int)reader.GetInt64(0), (int)reader.GetInt64(1), (int)reader.GetInt64(2), (int)reader.GetInt64(3), (int)reader.GetInt64(4));
        var reporting = counts.Online + counts.Silent;
        return new FleetSnapshot(
            counts,
            reporting == 0 ? 0 : Math.Round(counts.Silent * 100.0 / reporting, 2),
            reader.IsDBNull(5) ? null : Math.Round(reader.GetDouble(5), 3),
            null,
            null,
            null,
            null,
            null,
            0,
            (int)reader.GetInt64(6),
            default);
    }
}
