using Microsoft.Extensions.Time.Testing;
using Sensors360.Simulator.Roster;

namespace Sensors360.Simulator.Tests.Roster;

/// <summary>Reusing the sensors of earlier runs from the state file, as far as the server still takes them.</summary>
public sealed class RosterProvisioningTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sensors360-roster-");

    [Fact]
    public async Task Saved_sensors_are_reused_provisioned_again_when_the_server_forgot_them_and_dropped_when_retired()
    {
        var path = Path.Combine(_directory.FullName, "nested", "state.json");
        var saved = SensorRoster.Load(path);
        saved.Put("sim-00001", "kept");
        saved.Put("sim-00002", "forgotten");
        saved.Put("sim-00003", "retired");
        saved.Put("sim-00004", "dead");
        saved.MarkDead("sim-00004", DateTimeOffset.UnixEpoch);
        saved.Put("other-00001", "someone else's prefix");
        saved.Save();
        var server = new FakeSensorServer(new FakeTimeProvider());
        server.Has("sim-00001", "kept");
        server.Has("sim-00003", "retired", retired: true);
        server.Has("sim-00004", "dead");
        server.Has("sim-00005", "not ours");

        var roster = SensorRoster.Load(path);
        var sensors = await new RosterProvisioning(roster, server, "sim-", ["simulator"], 60).EnsureAsync(3, TestContext.Current.CancellationToken);

        Assert.Equal(["sim-00001", "sim-00002", "sim-00006"], sensors.Select(sensor => sensor.Id).Order());
        Assert.Equal("kept", sensors.Single(sensor => sensor.Id == "sim-00001").Token);
        Assert.Equal(["sim-00002", "sim-00006"], server.Provisioned);
        var reloaded = SensorRoster.Load(path);
        Assert.Equal(["other-00001", "sim-00001", "sim-00002", "sim-00004", "sim-00006"], reloaded.Entries.Select(entry => entry.Id).Order());
        Assert.All(sensors, sensor => Assert.Equal(sensor.Token, reloaded.Find(sensor.Id)!.Token));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }

    [Fact]
    public async Task A_second_run_reuses_every_sensor_of_the_first()
    {
        var path = Path.Combine(_directory.FullName, "state.json");
        var server = new FakeSensorServer(new FakeTimeProvider());
        var first = await new RosterProvisioning(SensorRoster.Load(path), server, "load-", [], 60).EnsureAsync(5, TestContext.Current.CancellationToken);
        var second = await new RosterProvisioning(SensorRoster.Load(path), server, "load-", [], 60).EnsureAsync(5, TestContext.Current.CancellationToken);

        Assert.Equal(5, server.Provisioned.Count);
        Assert.Equal(first.Select(sensor => (sensor.Id, sensor.Token)), second.Select(sensor => (sensor.Id, sensor.Token)));
    }

    public void Dispose() => _directory.Delete(recursive: true);
}
