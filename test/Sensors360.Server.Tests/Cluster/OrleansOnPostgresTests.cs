using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using Orleans.Storage;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Cluster;

/// <summary>The Orleans ADO.NET providers against orleans-postgres.sql on a real PostgreSQL.</summary>
public sealed class OrleansOnPostgresTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Two_silos_form_one_cluster_and_the_survivor_sees_the_other_leave()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Two_silos_form_one_cluster_and_the_survivor_sees_the_other_leave));
        await using var cluster = PostgresCluster.Build(database, silos: 2);
        await cluster.DeployAsync();

        var management = cluster.Client.GetGrain<IManagementGrain>(0);
        var active = await Eventually.MatchesAsync(
            () => management.GetDetailedHosts(onlyActive: true), hosts => hosts.Length == 2, Patience, "both silos active in the membership table");
        Assert.Equal(cluster.Silos.Select(silo => silo.SiloAddress).Order(), active.Select(host => host.SiloAddress).Order());

        var (survivor, leaving) = ((InProcessSiloHandle)cluster.Silos[0], (InProcessSiloHandle)cluster.Silos[1]);
        await cluster.StopSiloAsync(leaving);

        var membership = survivor.SiloHost.Services.GetRequiredService<IClusterMembershipService>();
        await Eventually.TrueAsync(
            () => Task.FromResult(membership.CurrentSnapshot.GetSiloStatus(leaving.SiloAddress) == SiloStatus.Dead),
            Patience,
            "the survivor sees the stopped silo as dead");
        var table = await survivor.SiloHost.Services.GetRequiredService<IGrainFactory>()
            .GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: false);
        Assert.Equal(SiloStatus.Dead, Assert.Single(table, host => host.SiloAddress.Equals(leaving.SiloAddress)).Status);
        Assert.Equal(SiloStatus.Active, Assert.Single(table, host => host.SiloAddress.Equals(survivor.SiloAddress)).Status);
    }

    [Fact]
    public async Task Grain_state_is_written_read_back_and_cleared()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Grain_state_is_written_read_back_and_cleared));
        await using var cluster = PostgresCluster.Build(database, silos: 1);
        await cluster.DeployAsync();
        var grain = cluster.Client.GetGrain<IStateProbeGrain>("boiler-7");

        Assert.Equal((null, false), await grain.ReadFromStorage());
        await grain.Write("first");
        await grain.Write("second");
        await grain.Deactivate();
        Assert.Equal(("second", true), await grain.ReadFromStorage());

        await grain.Clear();
        await grain.Deactivate();
        Assert.Equal((null, false), await grain.ReadFromStorage());

        await grain.Write("after clear");
        await grain.Deactivate();
        Assert.Equal(("after clear", true), await grain.ReadFromStorage());
    }

    [Fact]
    public async Task A_stale_write_or_clear_fails_with_InconsistentStateException()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(A_stale_write_or_clear_fails_with_InconsistentStateException));
        await using var cluster = PostgresCluster.Build(database, silos: 1);
        await cluster.DeployAsync();
        var storage = cluster.GetSiloServiceProvider().GetRequiredKeyedService<IGrainStorage>("Default");
        var grainId = GrainId.Create("stateprobe", "stale");

        // Two readers of the same version, as two activations racing after a split would be.
        var winner = new GrainState<ProbeState>(new ProbeState());
        var loser = new GrainState<ProbeState>(new ProbeState());
        await storage.ReadStateAsync("probe", grainId, winner);
        await storage.ReadStateAsync("probe", grainId, loser);

        // Racing to create the record: the second insert is stale.
        winner.State!.Value = "winner";
        await storage.WriteStateAsync("probe", grainId, winner);
        loser.State!.Value = "loser";
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("probe", grainId, loser));

        // Racing to update it: a write or clear with a version that has moved on is stale.
        await storage.ReadStateAsync("probe", grainId, loser);
        winner.State!.Value = "winner again";
        await storage.WriteStateAsync("probe", grainId, winner);
        loser.State!.Value = "loser";
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("probe", grainId, loser));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("probe", grainId, loser));

        var fresh = new GrainState<ProbeState>(new ProbeState());
        await storage.ReadStateAsync("probe", grainId, fresh);
        Assert.Equal("winner again", fresh.State!.Value);

        // The winner's own version still works, and a clear makes the old version stale too.
        await storage.ClearStateAsync("probe", grainId, fresh);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("probe", grainId, winner));
    }

    [Fact]
    public async Task A_reminder_registered_before_a_restart_fires_after_it()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(A_reminder_registered_before_a_restart_fires_after_it));
        var serviceId = $"reminders-{Guid.NewGuid():N}";
        var grainKey = Guid.NewGuid().ToString("N");

        await using (var before = PostgresCluster.Build(database, silos: 1, serviceId))
        {
            await before.DeployAsync();
            await before.Client.GetGrain<IReminderProbeGrain>(grainKey).Start(dueTime: TimeSpan.FromSeconds(5), period: TimeSpan.FromSeconds(2));
            await before.StopAllSilosAsync();
        }

        await using var after = PostgresCluster.Build(database, silos: 1, serviceId);
        await after.DeployAsync();
        var restarted = after.Silos[0].SiloAddress;

        await Eventually.TrueAsync(
            () => Task.FromResult(ReminderProbeGrain.Ticks.Contains((grainKey, restarted))),
            Patience,
            "the reminder fires on the restarted silo");

        await after.Client.GetGrain<IReminderProbeGrain>(grainKey).Cancel();
        var reminders = after.GetSiloServiceProvider().GetRequiredService<IReminderTable>();
        var rows = await reminders.ReadRows(GrainId.Create("reminderprobe", grainKey));
        Assert.Empty(rows.Reminders);
    }
}
