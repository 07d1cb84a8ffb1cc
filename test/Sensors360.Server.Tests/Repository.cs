namespace Sensors360.Server.Tests;

/// <summary>The checkout the tests were built from: deploy files, the Dockerfile and the sources are read where they are.</summary>
internal static class Repository
{
    public static string Root { get; } = Find();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Sensors360.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Sensors360.sln above {AppContext.BaseDirectory}: the tests read the checkout they were built from.");
    }
}
