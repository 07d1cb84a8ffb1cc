namespace Sensors360.Simulator.Server;

/// <summary>
/// Finds the operator's password: the <c>--password</c> option, else <c>SENSORS360_PASSWORD</c>, else the file
/// <c>.data/admin-password</c> that <c>build.ps1 run</c> keeps for its private database.
/// </summary>
internal static class OperatorPassword
{
    public const string EnvironmentVariable = "SENSORS360_PASSWORD";
    public static readonly string DataFile = Path.Combine(".data", "admin-password");

    /// <summary>The password, or null when none of the three sources has one.</summary>
    public static string? Resolve(string? option, string? environment, string workingDirectory)
    {
        if (!string.IsNullOrEmpty(option))
        {
            return option;
        }

        if (!string.IsNullOrEmpty(environment))
        {
            return environment;
        }

        var file = Path.Combine(workingDirectory, DataFile);
        return File.Exists(file) && File.ReadAllText(file).Trim() is { Length: > 0 } kept ? kept : null;
    }
}
