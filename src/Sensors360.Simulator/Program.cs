using Sensors360.Simulator.Commands;

return await SimulatorCommands.Create().Parse(args).InvokeAsync(SimulatorCommands.Invocation);
