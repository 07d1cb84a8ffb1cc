using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// A sensor's counters are its grain's until the silo's checkpoint writes them: a grain activated again rebuilds
/// them from the checkpoint plus the heartbeat rows after it, and a checkpoint that was overtaken meanwhile (another
/// silo's) neither counts a heartbeat twice nor loses one.
/// </summary>
public sealed class CheckpointRebuildTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task A_grain_activated_again_counts_the_heartbeats_past_the_checkpoint_and_an_overtaken_checkpoint_counts_each_once()
    {
        await using var fleet = await SensorFleet.StartAsync(
            postgres,
            nameof(A_grain_activated_again_counts_the_heartbeats_past_the_checkpoint_and_an_overtaken_checkpoint_counts_each_once),
            new Dictionary<string, string> { ["Sensors360:Monitoring:CheckpointPeriod"] = "00:01:00" });
        var checkpoint = fleet.Cluster.GetSiloServiceProvider().GetRequiredService<SensorCheckpoint>();
        var token = await fleet.ProvisionAsync("rebuilt");
        var times = new List<DateTimeOffset>();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("rebuilt", token));
            times.Add(fleet.Clock.GetUtcNow());
            fleet.Advance(TimeSpan.FromSeconds(1));
        }

        // Only the first heartbeat is checkpointed (at once, for the fleet's online count); four are noted in memory.
        Assert.Equal(1, await fleet.ScalarAsync("SELECT heartbeat_count FROM sensor WHERE name = 'rebuilt'"));

        // The grain goes; its next activation reads the checkpoint and the rows after it.
        await fleet.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var described = await fleet.Sensor("rebuilt").Describe();
        Assert.Equal((5L, times[0], times[4], SensorStatus.Online), (described!.HeartbeatCount, described.FirstHeartbeatAt!.Value, described.LastHeartbeatAt!.Value, described.Status));

        Assert.Equal(HeartbeatResult.Stored, await fleet.HeartbeatAsync("rebuilt", token));
        times.Add(fleet.Clock.GetUtcNow());
        Assert.Equal(6, (await fleet.Sensor("rebuilt").Describe())!.HeartbeatCount);

        // Meanwhile another silo (where the grain lived for a while) checkpointed up to the third heartbeat.
        await fleet.ScalarAsync("UPDATE sensor SET heartbeat_count = 3, last_heartbeat_at = $1 WHERE name = 'rebuilt'", times[2]);
        await checkpoint.WriteAsync(CancellationToken.None);
        Assert.Equal(6, await fleet.ScalarAsync("SELECT heartbeat_count FROM sensor WHERE name = 'rebuilt'"));
        Assert.Equal(1, await fleet.ScalarAsync("SELECT count(*) FROM sensor WHERE name = 'rebuilt' AND last_heartbeat_at = $1 AND first_heartbeat_at = $2", times[5], times[0]));
        Assert.Equal(0, checkpoint.Pending);

        // Written once: a later checkpoint with nothing new changes nothing, and the rebuilt view adds nothing.
        await checkpoint.WriteAsync(CancellationToken.None);
        Assert.Equal(6, await fleet.ScalarAsync("SELECT heartbeat_count FROM sensor_status_rebuilt WHERE name = 'rebuilt'"));
    }

    [Fact]
    public async Task A_first_heartbeat_the_periodic_statement_holds_is_answered_only_after_that_statement_commits()
    {
        await using var fleet = await SensorFleet.StartAsync(
            postgres,
            nameof(A_first_heartbeat_the_periodic_statement_holds_is_answered_only_after_that_statement_commits),
            new Dictionary<string, string> { ["Sensors360:Monitoring:CheckpointPeriod"] = "00:01:00" });
        var checkpoint = fleet.Cluster.GetSiloServiceProvider().GetRequiredService<SensorCheckpoint>();
        await fleet.ProvisionAsync("held");
        var sensorId = await fleet.ScalarAsync("SELECT id FROM sensor WHERE name = 'held'");
        var at = fleet.Clock.GetUtcNow();
        await fleet.ScalarAsync("INSERT INTO heartbeat (sensor_id, received_at) VALUES ($1, $2)", sensorId, at);
        checkpoint.Note(sensorId, after: null, at, count: 1);

        // The periodic statement takes the note and then waits: an operator's transaction holds the sensor table.
        await using var blocker = await fleet.Db.OpenConnectionAsync();
        await using var hold = await blocker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE sensor IN SHARE MODE", blocker, hold))
        {
            await lockTable.ExecuteNonQueryAsync();
        }

        var periodic = checkpoint.WriteAsync(CancellationToken.None);

        // The first heartbeat's early write finds its sensor taken: it must wait for that statement, which cannot
        // have committed while the table is held.
        var soon = checkpoint.WriteSoonAsync(sensorId);
        Assert.False(soon.IsCompleted);
        Assert.Equal(0, await fleet.ScalarAsync("SELECT heartbeat_count FROM sensor WHERE id = $1", sensorId));

        await hold.RollbackAsync();
        await soon;
        Assert.Equal(1, await fleet.ScalarAsync("SELECT heartbeat_count FROM sensor WHERE id = $1", sensorId));
        await periodic;
    }
}
