using Microsoft.Extensions.DependencyInjection;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Alerts;
using Sensors360.Grains.Maintenance;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// Pauses and maintenance windows (issue 13): a paused sensor raises no alert from its grain's watch nor from the
/// sweep, and a silence that outlasts the pause is alerted when it ends, silent since its own deadline.
/// </summary>
public sealed class PauseTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan Threshold = SensorFleet.DefaultThreshold;
    private static readonly TimeSpan SweepPeriod = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    private static readonly Dictionary<string, string> Sweeping = new()
    {
        ["Sensors360:Monitoring:SweepPeriod"] = SweepPeriod.ToString(),
    };

    [Fact]
    public async Task A_paused_sensor_raises_nothing_past_its_threshold_and_is_alerted_at_the_end_of_the_pause_or_at_once_on_resume()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_paused_sensor_raises_nothing_past_its_threshold_and_is_alerted_at_the_end_of_the_pause_or_at_once_on_resume));
        var start = fleet.Clock.GetUtcNow();
        var until = await ProvisionedAndPausedAsync(fleet, "paused-1", start + TimeSpan.FromMinutes(10));
        await ProvisionedAndPausedAsync(fleet, "resumed-1", start + TimeSpan.FromMinutes(10));
        var witness = await fleet.ProvisionAsync("witness-1");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("witness-1", witness));
        Assert.Equal(SensorStatus.Paused, await fleet.StatusAsync("paused-1"));

        // Past the threshold: the witness's timer alerts it; the paused sensors' timers find them paused.
        fleet.Advance(Threshold + Tick);
        await fleet.WaitForStatusAsync("witness-1", SensorStatus.Silent);
        await fleet.Sensor("paused-1").CheckSilence();
        Assert.False(await fleet.Sensor("paused-1").ConfirmSilence(start));
        Assert.Empty(await fleet.AlertsAsync("paused-1"));
        Assert.Empty(await fleet.AlertsAsync("resumed-1"));
        Assert.Equal(SensorStatus.Paused, await fleet.StatusAsync("paused-1"));

        // Resumed while silent past its threshold: alerted within the call, silent since its deadline.
        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("resumed-1").EndPause());
        var resumed = Assert.Single(await fleet.AlertsAsync("resumed-1"));
        Assert.Equal(start + Threshold, resumed.SilentSince);
        Assert.Equal(start + Threshold + Tick, resumed.RaisedAt);
        Assert.Equal(SensorStatus.Silent, await fleet.StatusAsync("resumed-1"));

        // The pause ends: the timer armed for its end raises the alert then, silent since the deadline it passed.
        fleet.Advance(until - fleet.Clock.GetUtcNow() - Tick);
        await fleet.Sensor("paused-1").CheckSilence();
        Assert.Empty(await fleet.AlertsAsync("paused-1"));
        fleet.Advance(Tick);
        await Eventually.TrueAsync(async () => (await fleet.AlertsAsync("paused-1")).Count == 1, TimeSpan.FromSeconds(20), "paused-1 is alerted when its pause ends");
        var alert = Assert.Single(await fleet.AlertsAsync("paused-1"));
        Assert.Equal(Alert.Silent, alert.Kind);
        Assert.Equal(start + Threshold, alert.SilentSince);
        Assert.Equal(until, alert.RaisedAt);
    }

    [Fact]
    public async Task The_sweep_leaves_a_paused_sensor_alone_and_alerts_it_once_the_pause_is_over()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(The_sweep_leaves_a_paused_sensor_alone_and_alerts_it_once_the_pause_is_over), Sweeping);
        var start = fleet.Clock.GetUtcNow();
        // Never heard from, so no reminder either: once their grains are gone with their timers, only the sweep watches them.
        var until = await ProvisionedAndPausedAsync(fleet, "swept-paused", start + TimeSpan.FromMinutes(5), heartbeat: false);
        await fleet.ProvisionAsync("swept-witness");
        await fleet.Cluster.DeactivateAsync(fleet.Sensor("swept-paused"));
        await fleet.Cluster.DeactivateAsync(fleet.Sensor("swept-witness"));

        fleet.Advance(Threshold + SweepPeriod + Tick);
        await Eventually.TrueAsync(async () => (await fleet.AlertsAsync("swept-witness")).Count == 1, TimeSpan.FromSeconds(20), "the sweep alerts the witness");
        // Overdue by the database's account, no alert, not retired: left out only because it is paused.
        Assert.Empty(await OverdueAsync(fleet));
        Assert.Empty(await fleet.AlertsAsync("swept-paused"));

        // The sweep's own raise, for a grain it cannot reach, refuses a paused sensor too.
        var id = await fleet.ScalarAsync("SELECT id FROM sensor WHERE name = 'swept-paused'");
        var alerts = new AlertStore(fleet.Db);
        Assert.Empty(await alerts.RaiseSilencesIfUnchangedAsync(
            [new OverdueSensor(id, "swept-paused", null, start + Threshold)], fleet.Clock.GetUtcNow(), CancellationToken.None));

        // Over: the next sweep finds it overdue and has its grain raise the alert.
        fleet.Advance(until - fleet.Clock.GetUtcNow() + SweepPeriod);
        await Eventually.TrueAsync(async () => (await fleet.AlertsAsync("swept-paused")).Count == 1, TimeSpan.FromSeconds(20), "the sweep alerts it after the pause");
        var alert = Assert.Single(await fleet.AlertsAsync("swept-paused"));
        Assert.Equal(Alert.NeverReported, alert.Kind);
        Assert.Equal(start + Threshold, alert.SilentSince);
        Assert.InRange(alert.RaisedAt, until, until + SweepPeriod);
    }

    [Fact]
    public async Task A_maintenance_window_pauses_the_sensors_of_its_tags_only_from_its_start_to_its_end()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_maintenance_window_pauses_the_sensors_of_its_tags_only_from_its_start_to_its_end));
        var start = fleet.Clock.GetUtcNow();
        var windowStart = start + TimeSpan.FromSeconds(30);
        var windowEnd = start + TimeSpan.FromMinutes(5);
        var store = new MaintenanceStore(fleet.Db);
        await store.CreateAsync(windowStart, windowEnd, ["site-b", "site-m"], "pump swap", "tester", start, CancellationToken.None);
        // The test cluster has no change listener: the silo's calendar is told as the listener would tell it.
        await fleet.Cluster.GetSiloServiceProvider().GetRequiredService<MaintenanceCalendar>().ReloadAsync(CancellationToken.None);

        var inside = await fleet.ProvisionAsync("in-window", null, "site-m");
        var outside = await fleet.ProvisionAsync("out-window", null, "site-x");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("in-window", inside));
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("out-window", outside));
        // Scheduled, not begun: not paused yet.
        Assert.Equal(SensorStatus.Online, await fleet.StatusAsync("in-window"));

        fleet.Advance(Threshold + Tick);
        await fleet.WaitForStatusAsync("out-window", SensorStatus.Silent);
        await fleet.Sensor("in-window").CheckSilence();
        Assert.Empty(await fleet.AlertsAsync("in-window"));
        Assert.Equal(SensorStatus.Paused, await fleet.StatusAsync("in-window"));

        fleet.Advance(windowEnd - fleet.Clock.GetUtcNow());
        await Eventually.TrueAsync(async () => (await fleet.AlertsAsync("in-window")).Count == 1, TimeSpan.FromSeconds(20), "in-window is alerted when the window ends");
        var alert = Assert.Single(await fleet.AlertsAsync("in-window"));
        Assert.Equal(start + Threshold, alert.SilentSince);
        Assert.Equal(windowEnd, alert.RaisedAt);
    }

    private static async Task<DateTimeOffset> ProvisionedAndPausedAsync(SensorFleet fleet, string id, DateTimeOffset until, bool heartbeat = true)
    {
        var token = await fleet.ProvisionAsync(id);
        if (heartbeat)
        {
            Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync(id, token));
        }

        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor(id).Pause(new SensorPause(until, "calibration", "tester")));
        return until;
    }

    /// <summary>What the sweep's query finds overdue now, by the monitoring clock.</summary>
    private static async Task<List<string>> OverdueAsync(SensorFleet fleet)
    {
        await using var connection = await fleet.Db.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var overdue = await SensorStore.ReadOverdueAsync(connection, transaction, fleet.Clock.GetUtcNow(), Threshold, 100, CancellationToken.None);
        return [.. overdue.Select(sensor => sensor.Name)];
    }
}
