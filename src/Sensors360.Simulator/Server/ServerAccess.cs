namespace Sensors360.Simulator.Server;

/// <summary>
/// Where the server is, the operator the simulator logs in as, and the file that keeps the tokens of the
/// sensors it provisioned (reused on the next run).
/// </summary>
internal sealed record ServerAccess(Uri Server, string User, string? Password, string StateFile)
{
    public static readonly Uri DefaultServer = new("http://localhost:5000");
    public const string DefaultUser = "admin";
    public static readonly string DefaultStateFile = Path.Combine(".data", "simulator-sensors.json");
}
