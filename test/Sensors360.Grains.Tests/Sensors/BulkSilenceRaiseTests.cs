using Microsoft.Extensions.DependencyInjection;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Alerts;
using Sensors360.Grains.Maintenance;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// Issue 14, watched again after a full restart: the silence sweep raises the alerts of overdue sensors whose grains
/// are active nowhere in bulk, by the rules a grain's own raise keeps, and a heartbeat racing that raise leaves no
/// open alert on a sensor that is beating. Real PostgreSQL, a one-silo cluster, a fake sensor clock.
/// </summary>
public sealed class BulkSilenceRaiseTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan Threshold = SensorFleet.DefaultThreshold;
    private static readonly TimeSpan SweepPeriod = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    // More than one page of the sweep's read (SilenceSweep.PageSize), so one sweep must read on.
    private const int Backlog = SilenceSweep.PageSize + 50;

    // Sweeps only when the test moves the clock a whole period; reminders (an hour after a silence) never tick here.
    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Sensors360:Monitoring:SweepPeriod"] = SweepPeriod.ToString(),
        ["Sensors360:Monitoring:SilenceCheckPeriod"] = "01:00:00",
    };

    [Fact]
    public async Task One_sweep_raises_a_backlog_whose_grains_are_active_nowhere_once_each_with_the_grains_kind_silent_since_and_notification()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(One_sweep_raises_a_backlog_whose_grains_are_active_nowhere_once_each_with_the_grains_kind_silent_since_and_notification), Settings);
        var start = fleet.Clock.GetUtcNow();
        await new MaintenanceStore(fleet.Db).CreateAsync(start, start + TimeSpan.FromDays(1), ["site-m"], "pump swap", "tester", start, CancellationToken.None);
        await fleet.Cluster.GetSiloServiceProvider().GetRequiredService<MaintenanceCalendar>().ReloadAsync(CancellationToken.None);

        var silent = new[] { "silent-0", "silent-1", "silent-2" };
        var tokens = new Dictionary<string, string>();
        foreach (var id in silent.Append("retired").Append("paused"))
        {
            tokens[id] = await fleet.ProvisionAsync(id);
            Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync(id, tokens[id]));
        }

        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("maintained", await fleet.ProvisionAsync("maintained", null, "site-m")));
        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("retired").Retire(new SensorRetirement(RetirementReason.Decommissioned, null)));
        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("paused").Pause(new SensorPause(start + TimeSpan.FromDays(1), "calibration", "tester")));
        await fleet.ProvisionAsync("mute");
        // One sensor keeps its grain: its own timer raises its alert, the path the bulk raise must match.
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("kept", await fleet.ProvisionAsync("kept")));
        // A backlog of sensors that never reported, provisioned in SQL as the bulk API does: no grain ever.
        await fleet.ScalarAsync(
            "WITH made AS (INSERT INTO sensor (name, token_hash, created_at) SELECT 'backlog-' || g, 'unused', $1 FROM generate_series(1, $2) AS g RETURNING 1) SELECT count(*) FROM made",
            start, Backlog);

        // As after a full restart: no grain of theirs is active anywhere.
        foreach (var id in silent.Concat(["retired", "paused", "maintained", "mute"]))
        {
            await fleet.Cluster.DeactivateAsync(fleet.Sensor(id));
        }

        fleet.Advance(Threshold + Tick);
        await Eventually.TrueAsync(async () => (await fleet.AlertsAsync("kept")).Count == 1, TimeSpan.FromSeconds(20), "the active grain raises its own alert");

        // Exactly one sweep: every overdue sensor is raised by it, past the first page.
        fleet.Advance(SweepPeriod - Threshold - Tick);
        var sweptAt = fleet.Clock.GetUtcNow();
        var expected = silent.Length + 1 + Backlog + 1;
        await Eventually.MatchesAsync(
            () => fleet.ScalarAsync("SELECT count(*) FROM alert"),
            count => count >= expected,
            TimeSpan.FromSeconds(60),
            "one sweep raises the whole backlog");
        Assert.Equal(expected, await fleet.ScalarAsync("SELECT count(*) FROM alert"));
        Assert.Equal(expected, await fleet.ScalarAsync("SELECT count(DISTINCT sensor_id) FROM alert WHERE resolved_at IS NULL"));

        foreach (var id in silent)
        {
            var alert = Assert.Single(await fleet.AlertsAsync(id));
            Assert.Equal(Alert.Silent, alert.Kind);
            Assert.Equal(start + Threshold, alert.SilentSince);
            Assert.Equal(sweptAt, alert.RaisedAt);
        }

        var mute = Assert.Single(await fleet.AlertsAsync("mute"));
        Assert.Equal(Alert.NeverReported, mute.Kind);
        Assert.Equal(start + Threshold, mute.SilentSince);
        Assert.Equal(0, await fleet.ScalarAsync(
            "SELECT count(*) FROM alert a JOIN sensor s ON s.id = a.sensor_id WHERE s.name LIKE 'backlog-%' AND (a.kind <> 'never-reported' OR a.silent_since <> s.created_at + $1 OR a.raised_at <> $2)",
            Threshold, sweptAt));
        Assert.Empty(await fleet.AlertsAsync("retired"));
        Assert.Empty(await fleet.AlertsAsync("paused"));
        Assert.Empty(await fleet.AlertsAsync("maintained"));

        // Each raise queued its notification as the grain's did (the trigger on alert): one event, at its raise.
        Assert.Equal(0, await fleet.ScalarAsync("""
            SELECT count(*) FROM alert a
            WHERE (SELECT count(*) FROM notification_event e WHERE e.alert_id = a.id AND e.kind = 'alert.raised' AND e.at = a.raised_at) <> 1
            """));
        Assert.Equal(expected, await fleet.ScalarAsync("SELECT count(*) FROM notification_event"));

        // Raised without waking a grain: none of them is active (the grain path would have activated each).
        var sensorType = fleet.Sensor("silent-0").GetGrainId().Type;
        var active = (await fleet.Cluster.Client.GetGrain<IManagementGrain>(0).GetActiveGrains(sensorType)).Select(id => id.Key.ToString()).ToHashSet();
        Assert.Empty(active.Intersect(silent.Append("mute")));
        Assert.DoesNotContain(active, id => id!.StartsWith("backlog-", StringComparison.Ordinal));

        // The dashboard grain, told once, counts them all from the database.
        await Eventually.MatchesAsync(
            fleet.Cluster.Client.GetGrain<IDashboardGrain>(0).GetFleet,
            numbers => numbers.OpenAlerts == expected && numbers.Sensors.Silent == expected,
            TimeSpan.FromSeconds(20),
            "the fleet counts every open alert and silent sensor");

        // A grain activated afterwards holds its alert, and its heartbeat resolves it.
        Assert.Equal(SensorStatus.Silent, await fleet.StatusAsync("silent-0"));
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("silent-0", tokens["silent-0"]));
        Assert.Equal(fleet.Clock.GetUtcNow(), Assert.Single(await fleet.AlertsAsync("silent-0")).ResolvedAt);
        Assert.Equal(SensorStatus.Online, await fleet.StatusAsync("silent-0"));
    }

    [Fact]
    public async Task The_bulk_raise_skips_a_sensor_that_changed_after_the_sweep_read_it()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(The_bulk_raise_skips_a_sensor_that_changed_after_the_sweep_read_it), Settings);
        var start = fleet.Clock.GetUtcNow();
        var sensors = new[] { "still-silent", "beat", "retired", "paused", "maintained", "raised-meanwhile" };
        var tokens = new Dictionary<string, string>();
        foreach (var id in sensors)
        {
            tokens[id] = await fleet.ProvisionAsync(id, null, id == "maintained" ? "site-m" : "site-x");
            Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync(id, tokens[id]));
            await fleet.Cluster.DeactivateAsync(fleet.Sensor(id));
        }

        fleet.Advance(Threshold + Tick);
        var overdue = await ReadOverdueAsync(fleet);
        Assert.Equal(sensors.Order(StringComparer.Ordinal), overdue.Select(sensor => sensor.Name).Order(StringComparer.Ordinal));

        // Between the sweep's read and its raise, each but one changes as an operator, the sensor or its grain would.
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("beat", tokens["beat"]));
        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("retired").Retire(new SensorRetirement(RetirementReason.Failed, null)));
        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("paused").Pause(new SensorPause(start + TimeSpan.FromDays(1), "calibration", "tester")));
        await new MaintenanceStore(fleet.Db).CreateAsync(start, start + TimeSpan.FromDays(1), ["site-m"], "pump swap", "tester", start, CancellationToken.None);
        await fleet.Sensor("raised-meanwhile").CheckSilence();
        var own = Assert.Single(await fleet.AlertsAsync("raised-meanwhile"));

        var raised = await new AlertStore(fleet.Db).RaiseSilencesIfUnchangedAsync(overdue, fleet.Clock.GetUtcNow(), CancellationToken.None);

        var alert = Assert.Single(raised);
        Assert.Equal("still-silent", alert.SensorId);
        Assert.Equal(Alert.Silent, alert.Kind);
        Assert.Equal(start + Threshold, alert.SilentSince);
        Assert.Empty(await fleet.AlertsAsync("beat"));
        Assert.Empty(await fleet.AlertsAsync("retired"));
        Assert.Empty(await fleet.AlertsAsync("paused"));
        Assert.Empty(await fleet.AlertsAsync("maintained"));
        Assert.Equal(own.Id, Assert.Single(await fleet.AlertsAsync("raised-meanwhile")).Id);
    }

    [Fact]
    public async Task A_first_heartbeat_racing_the_bulk_raise_waits_for_it_and_resolves_the_alert_its_grain_never_saw()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_first_heartbeat_racing_the_bulk_raise_waits_for_it_and_resolves_the_alert_its_grain_never_saw), Settings);
        var token = await fleet.ProvisionAsync("racer");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("racer", token));
        await fleet.Cluster.DeactivateAsync(fleet.Sensor("racer"));
        fleet.Advance(Threshold + Tick);

        // The sweep's bulk raise, held uncommitted: the alert is written, the sensor's row locked.
        await using var connection = await fleet.Db.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var overdue = await SensorStore.ReadOverdueAsync(connection, transaction, fleet.Clock.GetUtcNow(), Threshold, 100, CancellationToken.None);
        var raised = Assert.Single(await AlertStore.RaiseSilencesIfUnchangedAsync(connection, transaction, overdue, fleet.Clock.GetUtcNow(), CancellationToken.None));

        // The sensor beats: its grain activates and reads the sensor without the alert (not committed yet), then its
        // heartbeat's write waits for the raise's lock.
        var beat = fleet.HeartbeatAsync("racer", token);
        await Eventually.TrueAsync(
            async () => await fleet.ScalarAsync("SELECT count(*) FROM pg_locks WHERE NOT granted") > 0,
            TimeSpan.FromSeconds(20),
            "the heartbeat's write waits for the bulk raise");
        Assert.False(beat.IsCompleted);
        await transaction.CommitAsync();

        Assert.Equal(HeartbeatResult.Stored, await beat);
        var alert = Assert.Single(await fleet.AlertsAsync("racer"));
        Assert.Equal(raised.Id, alert.Id);
        Assert.Equal(fleet.Clock.GetUtcNow(), alert.ResolvedAt);
        Assert.Equal(0, await fleet.ScalarAsync("SELECT count(*) FROM alert WHERE resolved_at IS NULL"));
        Assert.Equal(SensorStatus.Online, await fleet.StatusAsync("racer"));
        Assert.Equal("online", await StatusInDatabaseAsync(fleet, "racer"));
    }

    private static async Task<IReadOnlyList<OverdueSensor>> ReadOverdueAsync(SensorFleet fleet)
    {
        await using var connection = await fleet.Db.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        return await SensorStore.ReadOverdueAsync(connection, transaction, fleet.Clock.GetUtcNow(), Threshold, 100, CancellationToken.None);
    }

    private static async Task<string?> StatusInDatabaseAsync(SensorFleet fleet, string id)
    {
        await using var command = fleet.Db.CreateCommand("SELECT status FROM sensor_status_rebuilt WHERE name = $1");
        command.Parameters.AddWithValue(id);
        return (string?)await command.ExecuteScalarAsync();
    }
}
