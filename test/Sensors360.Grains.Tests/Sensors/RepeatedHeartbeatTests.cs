using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// A heartbeat asked again after its answer was lost (the server tries a call once more when the silo that ran it
/// left): stored once, whichever activation the repeat reaches.
/// </summary>
public sealed class RepeatedHeartbeatTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task A_repeat_of_a_stored_heartbeat_is_answered_stored_and_not_stored_again_even_by_a_new_activation()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_repeat_of_a_stored_heartbeat_is_answered_stored_and_not_stored_again_even_by_a_new_activation));
        var token = await fleet.ProvisionAsync("pump-1");
        var report = new HeartbeatReport(SensorTokens.Hash(token), fleet.Clock.GetUtcNow(), MetricsJson: null);
        Assert.Equal(HeartbeatResult.Stored, await fleet.Sensor("pump-1").Heartbeat(report));

        // The same activation, then a new one (as on another silo after the first left): each finds it stored.
        Assert.Equal(HeartbeatResult.Stored, await fleet.Sensor("pump-1").Heartbeat(report with { Repeated = true }));
        await fleet.Cluster.DeactivateAsync(fleet.Sensor("pump-1"));
        Assert.Equal(HeartbeatResult.Stored, await fleet.Sensor("pump-1").Heartbeat(report with { Repeated = true }));

        Assert.Equal(1, await fleet.ScalarAsync("SELECT count(*) FROM heartbeat"));
        Assert.Equal(1, await fleet.ScalarAsync("SELECT heartbeat_count FROM sensor_status_rebuilt WHERE name = 'pump-1'"));
    }

    [Fact]
    public async Task A_repeat_of_a_heartbeat_that_was_never_stored_is_stored()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_repeat_of_a_heartbeat_that_was_never_stored_is_stored));
        var token = await fleet.ProvisionAsync("pump-2");
        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("pump-2", token));
        fleet.Advance(TimeSpan.FromSeconds(5));

        // The first call never reached the grain (rejected): the repeat is the only one, and it counts.
        var report = new HeartbeatReport(SensorTokens.Hash(token), fleet.Clock.GetUtcNow(), MetricsJson: null) { Repeated = true };
        Assert.Equal(HeartbeatResult.Stored, await fleet.Sensor("pump-2").Heartbeat(report));

        Assert.Equal(2, await fleet.ScalarAsync("SELECT count(*) FROM heartbeat"));
    }
}
