using Sensors360.Abstractions.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>The hot paths' sensor grain references are the ones Orleans' own <c>GetGrain</c> makes, for any id.</summary>
public sealed class SensorGrainsTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task A_reference_made_from_the_id_is_the_one_GetGrain_makes_and_reaches_the_sensor()
    {
        await using var fleet = await SensorFleet.StartAsync(postgres, nameof(A_reference_made_from_the_id_is_the_one_GetGrain_makes_and_reaches_the_sensor));
        var grains = fleet.Cluster.Client;
        foreach (var id in (string[])["pump-1", "a.b:c-d_e", new string('x', 64)])
        {
            var ours = (GrainReference)(object)grains.GetSensorGrain(id);
            var orleans = (GrainReference)(object)grains.GetGrain<ISensorGrain>(id);
            Assert.Equal(orleans.GrainId, ours.GrainId);
            Assert.Equal(orleans.InterfaceType, ours.InterfaceType);
            Assert.Equal(orleans, ours);
        }

        await fleet.ProvisionAsync("pump-1");
        Assert.Equal("pump-1", (await grains.GetSensorGrain("pump-1").Describe())!.Id);
    }
}
