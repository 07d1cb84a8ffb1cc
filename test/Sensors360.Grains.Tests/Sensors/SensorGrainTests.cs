using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>The sensor state machine and its silence alerts, on real PostgreSQL with a fake clock.</summary>
public sealed class SensorGrainTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan Threshold = SensorFleet.DefaultThreshold;
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task A_reminder_service_that_never_answers_delays_a_silence_alert_by_seconds_not_until_the_call_times_out()
    {
        var (configure, reminders) = HeldReminderTable.ForFleet();
        await using var fleet = await SensorFleet.StartAsync(
            postgres, nameof(A_reminder_service_that_never_answers_delays_a_silence_alert_by_seconds_not_until_the_call_times_out), configure: configure);
        var token = await fleet.ProvisionAsync("tank-9");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("tank-9", token));
        var lastHeartbeat = fleet.Clock.GetUtcNow();

        reminders().Hold();
        try
        {
            // In reach of its silence, the grain asks for its reminder, and no answer comes (as from a silo that died
            // with the call in flight: Orleans fails such a call only after its 30 s response timeout).
            fleet.Advance(Threshold - Tick);
            await Eventually.TrueAsync(() => Task.FromResult(reminders().Waiting > 0), TimeSpan.FromSeconds(20), "the grain waits for the reminder service");
            fleet.Advance(2 * Tick);

            // The silence is raised all the same once the grain stops waiting (seconds), as its heartbeat said.
            await Eventually.TrueAsync(async () => (await fleet.AlertsAsync("tank-9")).Count == 1, TimeSpan.FromSeconds(15), "the silence raised");
            Assert.Equal(lastHeartbeat + Threshold, Assert.Single(await fleet.AlertsAsync("tank-9")).SilentSince);
        }
        finally
        {
            reminders().Release();
        }
    }

    [Fact]
    public async Task A_sensor_goes_pending_online_silent_and_online_again_with_one_alert_raised_and_resolved()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_sensor_goes_pending_online_silent_and_online_again_with_one_alert_raised_and_resolved));
        var token = await fleet.ProvisionAsync("boiler-7");
        Assert.Equal(SensorStatus.Pending, await fleet.StatusAsync("boiler-7"));

        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("boiler-7", token));
        var lastHeartbeat = fleet.Clock.GetUtcNow();
        Assert.Equal(SensorStatus.Online, await fleet.StatusAsync("boiler-7"));
        // Its silence is far off: no reminder yet. One check period (here Tick) before it, the reminder is registered.
        Assert.Empty(await fleet.RemindersAsync("boiler-7"));

        // Just short of the threshold nothing happens; just past it the timer raises the alert.
        fleet.Advance(Threshold - Tick);
        await Eventually.TrueAsync(async () => (await fleet.RemindersAsync("boiler-7")).Count == 1, TimeSpan.FromSeconds(20), "the reminder registered");
        Assert.Equal(SensorStatus.Online, await fleet.StatusAsync("boiler-7"));
        fleet.Advance(2 * Tick);
        var detectedAt = fleet.Clock.GetUtcNow();
        await fleet.WaitForStatusAsync("boiler-7", SensorStatus.Silent);

        var alert = Assert.Single(await fleet.AlertsAsync("boiler-7"));
        Assert.Equal(lastHeartbeat + Threshold, alert.SilentSince);
        Assert.Equal(detectedAt, alert.RaisedAt);
        Assert.Null(alert.ResolvedAt);
        Assert.Empty(await fleet.RemindersAsync("boiler-7"));

        // More silence raises nothing more.
        fleet.Advance(Threshold * 3);
        Assert.Single(await fleet.AlertsAsync("boiler-7"));

        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("boiler-7", token));
        Assert.Equal(SensorStatus.Online, await fleet.StatusAsync("boiler-7"));
        var resolved = Assert.Single(await fleet.AlertsAsync("boiler-7"));
        Assert.Equal(fleet.Clock.GetUtcNow(), resolved.ResolvedAt);
        Assert.Empty(await fleet.RemindersAsync("boiler-7"));
        Assert.Equal(2, await fleet.ScalarAsync("SELECT heartbeat_count FROM sensor_status_rebuilt WHERE name = $1", "boiler-7"));
        Assert.Equal(2, await fleet.ScalarAsync("SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = $1", "boiler-7"));
    }

    [Fact]
    public async Task Steady_heartbeats_keep_a_sensor_online_without_reminder_writes()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(Steady_heartbeats_keep_a_sensor_online_without_reminder_writes));
        var token = await fleet.ProvisionAsync("pump-1");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("pump-1", token));
        Assert.Empty(await fleet.RemindersAsync("pump-1"));

        // Ten thresholds' worth of time, a heartbeat every half threshold: never silent.
        for (var i = 0; i < 20; i++)
        {
            fleet.Advance(Threshold / 2);
            Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("pump-1", token));
        }

        Assert.Equal(SensorStatus.Online, await fleet.StatusAsync("pump-1"));
        Assert.Empty(await fleet.AlertsAsync("pump-1"));
        // Never within a check period of its silence: it never needed a reminder, so none was written or held.
        Assert.Empty(await fleet.RemindersAsync("pump-1"));
        Assert.Equal(21, await fleet.ScalarAsync("SELECT heartbeat_count FROM sensor_status_rebuilt WHERE name = $1", "pump-1"));
    }

    [Fact]
    public async Task A_sensors_own_threshold_overrides_the_global_one()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_sensors_own_threshold_overrides_the_global_one));
        var quick = await fleet.ProvisionAsync("quick", thresholdSeconds: 10);
        var standard = await fleet.ProvisionAsync("standard");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("quick", quick));
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("standard", standard));

        fleet.Advance(TimeSpan.FromSeconds(11));
        await fleet.WaitForStatusAsync("quick", SensorStatus.Silent);
        Assert.Equal(SensorStatus.Online, await fleet.StatusAsync("standard"));
        Assert.Equal(10, (await fleet.Sensor("quick").Describe())!.SilenceThresholdSeconds);

        fleet.Advance(Threshold);
        await fleet.WaitForStatusAsync("standard", SensorStatus.Silent);
    }

    [Fact]
    public async Task A_retired_sensor_refuses_heartbeats_and_raises_no_alerts()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_retired_sensor_refuses_heartbeats_and_raises_no_alerts));
        var token = await fleet.ProvisionAsync("old-valve");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("old-valve", token));
        fleet.Advance(Threshold + Tick);
        await fleet.WaitForStatusAsync("old-valve", SensorStatus.Silent);

        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("old-valve").Retire(new SensorRetirement(RetirementReason.Failed, At: null)));
        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("old-valve").Retire(new SensorRetirement(RetirementReason.Failed, At: null)));

        Assert.Equal(SensorStatus.Retired, await fleet.StatusAsync("old-valve"));
        Assert.NotNull(Assert.Single(await fleet.AlertsAsync("old-valve")).ResolvedAt);
        Assert.Equal(HeartbeatResult.Retired, await fleet.HeartbeatAsync("old-valve", token));
        Assert.Equal(1, await fleet.ScalarAsync("SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = $1", "old-valve"));
        Assert.Empty(await fleet.RemindersAsync("old-valve"));
        fleet.Advance(Threshold * 2);
        Assert.Single(await fleet.AlertsAsync("old-valve"));
        Assert.Equal(SensorCommandResult.Retired, await fleet.Sensor("old-valve").RotateToken(SensorTokens.Hash(SensorTokens.NewToken())));
    }

    [Fact]
    public async Task Retiring_an_online_sensor_stops_its_silence_watch()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(Retiring_an_online_sensor_stops_its_silence_watch));
        var token = await fleet.ProvisionAsync("meter-3");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("meter-3", token));

        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("meter-3").Retire(new SensorRetirement(RetirementReason.Failed, At: null)));
        fleet.Advance(Threshold * 2);

        // Prove the silo processed the (fake) passage of time: another sensor does go silent meanwhile.
        var witness = await fleet.ProvisionAsync("witness");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("witness", witness));
        fleet.Advance(Threshold + Tick);
        await fleet.WaitForStatusAsync("witness", SensorStatus.Silent);
        Assert.Empty(await fleet.AlertsAsync("meter-3"));
        Assert.Empty(await fleet.RemindersAsync("meter-3"));
    }

    [Fact]
    public async Task A_rotated_token_replaces_the_old_one_at_once()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_rotated_token_replaces_the_old_one_at_once));
        var oldToken = await fleet.ProvisionAsync("gate-2");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("gate-2", oldToken));

        var newToken = SensorTokens.NewToken();
        Assert.Equal(SensorCommandResult.Done, await fleet.Sensor("gate-2").RotateToken(SensorTokens.Hash(newToken)));

        Assert.Equal(HeartbeatResult.Unauthorized, await fleet.HeartbeatAsync("gate-2", oldToken));
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("gate-2", newToken));
        Assert.Equal(SensorCommandResult.NotFound, await fleet.Sensor("no-such-sensor").RotateToken(SensorTokens.Hash(newToken)));
    }

    [Fact]
    public async Task Unknown_sensors_and_wrong_tokens_are_refused_alike_and_ids_are_unique()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(Unknown_sensors_and_wrong_tokens_are_refused_alike_and_ids_are_unique));
        var token = await fleet.ProvisionAsync("tank-9", null, "plant-a", "north");

        Assert.Equal(HeartbeatResult.Unauthorized, await fleet.HeartbeatAsync("tank-9", SensorTokens.NewToken()));
        // Told apart for the server's cache of unknown ids only; over HTTP both are the same 401 (HeartbeatApiTests).
        Assert.Equal(HeartbeatResult.UnknownSensor, await fleet.HeartbeatAsync("nobody", token));
        Assert.Equal(ProvisionResult.AlreadyExists,
            await fleet.Sensor("tank-9").Provision(new SensorRegistration([], null, SensorTokens.Hash(SensorTokens.NewToken()))));
        Assert.Equal(SensorStatus.Pending, await fleet.StatusAsync("tank-9"));
        Assert.Equal(["plant-a", "north"], (await fleet.Sensor("tank-9").Describe())!.Tags);
        Assert.Null(await fleet.Sensor("nobody").Describe());
        Assert.Equal(0, await fleet.ScalarAsync("SELECT count(*) FROM heartbeat"));
    }

    [Fact]
    public async Task Metrics_are_stored_with_the_heartbeat_and_receive_times_strictly_increase()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(Metrics_are_stored_with_the_heartbeat_and_receive_times_strictly_increase));
        var token = await fleet.ProvisionAsync("probe-5");

        // Same fake instant three times: the log still gets three distinct, increasing receive times.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("probe-5", token, """{"battery":0.82,"temperatureC":41.5}"""));
        }

        Assert.Equal(3, await fleet.ScalarAsync("SELECT count(DISTINCT received_at) FROM heartbeat"));
        Assert.Equal(3, await fleet.ScalarAsync("""SELECT count(*) FROM heartbeat WHERE metrics = '{"battery":0.82,"temperatureC":41.5}'::jsonb"""));
    }

    [Fact]
    public async Task A_sensor_silent_while_nobody_watched_gets_its_alert_when_its_grain_wakes()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_sensor_silent_while_nobody_watched_gets_its_alert_when_its_grain_wakes));
        var token = await fleet.ProvisionAsync("crane-4");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("crane-4", token));
        var lastHeartbeat = fleet.Clock.GetUtcNow();

        // A restart: the grain is gone, and time passes with no timer running for it.
        await fleet.Cluster.DeactivateAsync(fleet.Sensor("crane-4"));
        fleet.Clock.AdjustTime(fleet.Clock.GetUtcNow() + Threshold * 2);

        // Whatever wakes the grain next (its reminder, or here a status query) finds the silence overdue.
        await fleet.WaitForStatusAsync("crane-4", SensorStatus.Silent);
        var alert = Assert.Single(await fleet.AlertsAsync("crane-4"));
        Assert.Equal(lastHeartbeat + Threshold, alert.SilentSince);
    }
}
