namespace Sensors360.Simulator.Server;

/// <summary>A failure the simulator explains to its user in one line instead of a stack trace.</summary>
internal sealed class SimulatorException(string message, Exception? inner = null) : Exception(message, inner);
