namespace Sensors360.Testing;

/// <summary>Finds the PostgreSQL server binaries (initdb, pg_ctl) on this machine.</summary>
public static class PostgresBinaries
{
    /// <summary>Overrides the search, e.g. for a PostgreSQL installed outside the Debian layout.</summary>
    public const string BinDirectoryVariable = "SENSORS360_PG_BIN";

    public static string Find()
    {
        var configured = Environment.GetEnvironmentVariable(BinDirectoryVariable);
        if (!string.IsNullOrEmpty(configured))
        {
            return HasServer(configured)
                ? configured
                : throw new InvalidOperationException($"{BinDirectoryVariable} is {configured}, but initdb and pg_ctl are not there.");
        }

        var found = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(version => Path.Combine(version, "bin"))
                .Where(HasServer)
                .OrderByDescending(bin => int.TryParse(Path.GetFileName(Path.GetDirectoryName(bin)), out var major) ? major : 0)
                .FirstOrDefault()
            : null;
        return found ?? throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql: " +
            "run the tests with 'dotnet pwsh ./build.ps1 test', which installs them, or install the 'postgresql' package.");
    }

    private static bool HasServer(string bin) =>
        File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "pg_ctl"));
}
