using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// The silo's real <see cref="HeartbeatLog"/>, with two faults a test can switch on: a reply lost after the commit
/// reached the database (the heartbeat is stored, the grain hears <see cref="HeartbeatLogUnavailableException"/>,
/// as after a timeout on a commit that went through), and refusing every heartbeat without writing it (as when the
/// queue is full or the database is down).
/// </summary>
internal sealed class FaultyHeartbeatWriter(HeartbeatLog log) : IHeartbeatWriter
{
    private const string RegistryKey = "Sensors360:Test:FaultyWriter";

    // Silo configurators are created by type, so each fleet finds its writer through this registry.
    private static readonly ConcurrentDictionary<string, FaultyHeartbeatWriter> Writers = new();

    private readonly ConcurrentDictionary<long, bool> _loseReplyOf = new();

    /// <summary>Every heartbeat gets <see cref="HeartbeatLogUnavailableException"/> and nothing is written.</summary>
    public bool Refusing { get; set; }

    /// <summary>The next heartbeat of sensor <paramref name="sensorId"/> (database id) is stored, but its caller hears it was not.</summary>
    public void LoseNextReplyOf(long sensorId) => _loseReplyOf[sensorId] = true;

    public async Task AppendAsync(HeartbeatRecord record)
    {
        if (Refusing)
        {
            throw new HeartbeatLogUnavailableException("The heartbeat queue is full (test fault).");
        }

        await log.AppendAsync(record);
        if (_loseReplyOf.TryRemove(record.SensorId, out _))
        {
            throw new HeartbeatLogUnavailableException(
                "The database could not store the heartbeats.", new TimeoutException("The commit's reply was lost (test fault)."));
        }
    }

    /// <summary>Adds the writer to a fleet's silo and returns a way to reach it once the silo has made it.</summary>
    public static (Action<TestClusterBuilder> Configure, Func<FaultyHeartbeatWriter> Writer) ForFleet()
    {
        var id = Guid.NewGuid().ToString("N");
        return (
            builder =>
            {
                builder.Properties[RegistryKey] = id;
                builder.AddSiloBuilderConfigurator<Configurator>();
            },
            () => Writers[id]);
    }

    private sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            var id = siloBuilder.Configuration[RegistryKey]!;
            // Registered after the sensor services: the grains get this writer, around the silo's own log.
            siloBuilder.Services.AddSingleton<IHeartbeatWriter>(provider =>
                Writers[id] = new FaultyHeartbeatWriter(provider.GetRequiredService<HeartbeatLog>()));
        }
    }
}
