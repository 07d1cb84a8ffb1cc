using Sensors360.Simulator.Roster;
using Sensors360.Simulator.Server;
using Sensors360.Simulator.Status;
using Sensors360.Simulator.Truth;

namespace Sensors360.Simulator.Fleet;

/// <summary>The <c>fleet</c> command: log in, provision or reuse the sensors, run the fleet, write the truth, sum up.</summary>
internal static class FleetSimulation
{
    private static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(10);

    public static async Task<FleetSummary> RunAsync(FleetOptions options, StatusLine status, TimeProvider clock, CancellationToken cancellationToken)
    {
        options.Behaviour.Validate();
        if (options.Sensors < 1)
        {
            throw new SimulatorException("--sensors must be at least 1");
        }

        var roster = SensorRoster.Load(options.Access.StateFile);
        using var administration = await OperatorSession.LoginAsync(options.Access, cancellationToken);
        // Real sensors each hold a connection; the simulated ones share a pool big enough for their rate.
        using var transport = new HttpHeartbeatTransport(maxConnections: Math.Clamp(options.Sensors / 10, 4, 64), HeartbeatTimeout);
        status.WriteLine($"fleet: {options.Sensors} sensors '{options.Prefix}*' on {options.Access.Server} (seed {options.Seed}, state {roster.Path}); " +
            (options.Duration is { } duration ? $"running {Durations.Format(duration)}" : "Ctrl+C stops"));

        var run = new FleetRun(options, administration, transport, roster, clock, status);
        FleetSummary summary;
        try
        {
            summary = await run.RunAsync(cancellationToken);
        }
        finally
        {
            if (options.TruthFile is { } truthFile)
            {
                TruthCsv.Write(truthFile, run.Model.Sensors);
            }
        }

        status.WriteLine(summary.ToString());
        if (options.TruthFile is { } truth)
        {
            status.WriteLine($"  ground truth: {truth}");
        }

        return summary;
    }
}
