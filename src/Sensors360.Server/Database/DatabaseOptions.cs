namespace Sensors360.Server.Database;

/// <summary>Settings under <c>Sensors360:Database</c>.</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Sensors360:Database";

    /// <summary>Apply <c>orleans-postgres.sql</c> at start. Off when a DBA manages the Orleans tables.</summary>
    public bool ApplyOrleansScript { get; set; } = true;

    /// <summary>How long start-up waits for the database before giving up.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);
}
