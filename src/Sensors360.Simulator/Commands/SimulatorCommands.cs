using System.CommandLine;
using Sensors360.Simulator.Server;

namespace Sensors360.Simulator.Commands;

/// <summary>The command line: <c>fleet</c> (the default), <c>load</c> and <c>history</c>.</summary>
internal static class SimulatorCommands
{
    /// <summary>Ctrl+C cancels the run; it then has this long to let requests in flight finish, print its summary and save its state.</summary>
    public static InvocationConfiguration Invocation { get; } = new() { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) };

    public static RootCommand Create()
    {
        var root = FleetCommand.Configure(new RootCommand(
            "Sensors 360 simulator: simulated sensors that send heartbeats over HTTP. Without a command it runs 'fleet'."));
        root.Subcommands.Add(FleetCommand.Configure(new Command(
            "fleet", "A realistic demo fleet: Weibull lifespans, flaky sensors, optional replacement, and a ground-truth CSV.")));
        root.Subcommands.Add(LoadCommand.Create());
        root.Subcommands.Add(HistoryCommand.Create(TimeProvider.System));
        return root;
    }

    /// <summary>
    /// Runs a command's work; a <see cref="SimulatorException"/> becomes one line on <paramref name="error"/>
    /// (default stderr) and exit code 1.
    /// </summary>
    public static async Task<int> RunAsync(Func<Task> work, TextWriter? error = null)
    {
        try
        {
            await work();
            return 0;
        }
        catch (SimulatorException e)
        {
            await (error ?? Console.Error).WriteLineAsync(e.Message);
            return 1;
        }
    }
}
