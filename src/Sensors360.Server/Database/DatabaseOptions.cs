namespace Sensors360.Server.Database;

/// <summary>Settings under <c>Sensors360:Database</c>.</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Sensors360:Database";

    /// <summary>Apply <c>orleans-postgres.sql</c> at start. Off when a DBA manages the Orleans tables (or <c>migrate</c> applies them).</summary>
    public bool ApplyOrleansScript { get; set; } = true;

    /// <summary>
    /// Apply pending <c>schema/</c> migrations at start. Off when <c>migrate</c> applies them with the owner
    /// role: the server then only checks that none is missing, and with <see cref="ApplyOrleansScript"/> off
    /// too it needs no DDL rights at all.
    /// </summary>
    public bool ApplyMigrations { get; set; } = true;

    /// <summary>
    /// Used by <c>migrate</c> only: the login role the server will run as, granted what it needs at run time
    /// (reading and writing rows, running our functions) and nothing more.
    /// </summary>
    public string? RuntimeRole { get; set; }

    /// <summary>
    /// The most connections to PostgreSQL this process holds at once, over all its pools (<see cref="ConnectionBudget"/>).
    /// With N silos, N times this (plus what else connects) must stay under the database's <c>max_connections</c>.
    /// </summary>
    public int MaxConnections { get; set; } = ConnectionBudget.DefaultTotal;

    /// <summary>
    /// How often each silo's change listener sends itself an announcement through the pool. One not back on the
    /// listening connection by the next, or whose statement does not finish within the period, is taken for a lost
    /// connection, so a connection that died without a word is noticed within about twice this. From 1 second to 1 hour.
    /// </summary>
    public TimeSpan ListenerProbeEvery { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long start-up waits for the database before giving up.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);
}
