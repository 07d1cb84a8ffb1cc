using System.Net;
using Sensors360.Abstractions.Sensors;
using Sensors360.Server.Sensors;
using Sensors360.Server.Tests.Http;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>
/// The heartbeat gate's two partitioned limits (per sensor, refusals per address) survive their sweep of idle
/// partitions (<see cref="Server.Http.IdlePartitionSweep"/>): a heartbeat whose partition is swept under it is asked
/// again, not failed with a 500. <see cref="HeartbeatLimitTests"/> shows the limits themselves through a real server.
/// </summary>
public sealed class HeartbeatGateSweepTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.1");

    [Fact]
    public void A_heartbeat_whose_partitions_are_swept_under_it_passes_and_counts_in_fresh_ones()
    {
        var perSensor = new SweptOnce<string>(permitLimit: 1);
        var perAddress = new SweptOnce<IPAddress>(permitLimit: 1);
        using var gate = new HeartbeatGate(maxHeartbeatsPerSecond: 1, perSensor, perAddress, TimeProvider.System);

        Assert.Equal(HeartbeatAdmission.Pass, gate.Admit("sensor-1", "hash", Client, out _, out _));
        Assert.Equal((1, 1), (perSensor.Swept, perAddress.Swept));
        // The sensor's fresh partition counted that heartbeat: its one permit is used.
        Assert.Equal(HeartbeatAdmission.SensorLimited, gate.Admit("sensor-1", "hash", Client, out _, out _));
    }

    [Fact]
    public void A_refusal_whose_address_partition_is_swept_under_it_is_still_counted()
    {
        var perAddress = new SweptOnce<IPAddress>(permitLimit: 1);
        using var gate = new HeartbeatGate(maxHeartbeatsPerSecond: 1, new SweptOnce<string>(permitLimit: 1), perAddress, TimeProvider.System);

        gate.Refused("sensor-1", "wrong", Client, HeartbeatResult.Unauthorized, generation: 0);

        Assert.Equal(1, perAddress.Swept);
        // The address's one refusal is used, so its next heartbeat is held back.
        Assert.Equal(HeartbeatAdmission.AddressLimited, gate.Admit("sensor-2", "hash", Client, out _, out _));
    }
}
