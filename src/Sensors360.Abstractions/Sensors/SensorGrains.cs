namespace Sensors360.Abstractions.Sensors;

/// <summary>
/// References to sensor grains for the hot paths (every heartbeat asks for one). Orleans'
/// <c>GetGrain&lt;ISensorGrain&gt;(id)</c> resolves the interface's grain types by reflection and type-name
/// formatting on every call, uncached (Orleans 10.4); the two are the same for every sensor, so they are
/// resolved once here and each reference is made from its id directly.
/// </summary>
public static class SensorGrains
{
    // A reference, so it is read and written whole by concurrent callers.
    private static SensorGrainTypes? s_types;

    /// <summary>The sensor grain <paramref name="sensorId"/>: the same reference <c>GetGrain&lt;ISensorGrain&gt;</c> returns.</summary>
    public static ISensorGrain GetSensorGrain(this IGrainFactory grains, string sensorId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sensorId);
        if (s_types is not { } types)
        {
            // Types come from the interface's attributes and names, alike in every silo and client of the build.
            var reference = (GrainReference)(object)grains.GetGrain<ISensorGrain>(sensorId);
            s_types = new SensorGrainTypes(reference.GrainId.Type, reference.InterfaceType);
            return (ISensorGrain)reference;
        }

        return (ISensorGrain)grains.GetGrain(GrainId.Create(types.Grain, sensorId), types.Interface);
    }

    private sealed record SensorGrainTypes(GrainType Grain, GrainInterfaceType Interface);
}
