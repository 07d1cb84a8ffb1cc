using Npgsql;
using Sensors360.Grains.Sensors;

namespace Sensors360.Server.Database;

/// <summary>
/// How <see cref="DatabaseOptions.MaxConnections"/> is shared among the process's connection pools, so that the
/// process never holds more connections to PostgreSQL than that, however busy it is: Orleans' providers
/// (membership, grain state, reminders: one ADO.NET pool, as they share one connection string) get a fixed share,
/// the readiness check one connection of its own (<see cref="OwnDataSource.Readiness"/>), and the server the rest: the change
/// listener's LISTEN connection (<see cref="OwnDataSource.Listener"/>) and its <see cref="NpgsqlDataSource"/> (heartbeat writers,
/// every read and write of requests and grains). A pool that is full makes the next caller wait for a connection (up to the
/// connection string's <c>Timeout</c>) instead of opening one more. docs/operations.md has the formula.
/// </summary>
public sealed record ConnectionBudget(int Total, int Orleans, int Server)
{
    /// <summary>The readiness check's own connection.</summary>
    public const int Readiness = 1;

    /// <summary>The change listener's LISTEN connection, of the server's share.</summary>
    public const int Listener = 1;

    public const int DefaultTotal = 20;

    /// <summary>
    /// Connections of the server's share held for as long as the process runs: one per heartbeat writer (from the
    /// server's pool), and the LISTEN connection of <c>SensorChangeListener</c> (its own, <see cref="Listener"/>).
    /// </summary>
    public const int Held = HeartbeatLog.Writers + Listener;

    // Orleans at its smallest, the readiness check, the held connections, and a few for requests and grains.
    private const int SmallestOrleansShare = 2;
    private const int SmallestRequestShare = 2;

    /// <summary>The smallest budget the server runs with.</summary>
    public const int Minimum = SmallestOrleansShare + Readiness + Held + SmallestRequestShare;

    /// <summary>
    /// The split of <paramref name="total"/>: a quarter (at least two) for Orleans, whose traffic is membership
    /// heartbeats and a reminder write when a sensor comes online or goes silent; one for the readiness check; the
    /// rest for the server.
    /// </summary>
    public static ConnectionBudget Of(int total)
    {
        if (total < Minimum)
        {
            throw new ArgumentOutOfRangeException(nameof(total), total, $"A connection budget is at least {Minimum}.");
        }

        var orleans = Math.Max(SmallestOrleansShare, total / 4);
        return new ConnectionBudget(total, orleans, total - orleans - Readiness);
    }

    /// <summary>Connections the server's pool has for requests and grains, beside the <see cref="Held"/> ones.</summary>
    public int ForRequests => Server - Held;

    /// <summary>The connection string Orleans' ADO.NET providers use: pooled, at most <see cref="Orleans"/> connections.</summary>
    public string ForOrleans(string connectionString) => Sized(connectionString, Orleans);

    /// <summary>The connection string of the server's data source: pooled, at most <see cref="Server"/> connections but the <see cref="Listener"/>'s.</summary>
    public string ForServer(string connectionString) => Sized(connectionString, Server - Listener);

    /// <summary>
    /// The connection string of the change listener's data source: one connection, not pooled, so that it is closed
    /// when a listen ends, never lent out again.
    /// </summary>
    public static string ForListener(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Multiplexing = false }.ConnectionString;

    /// <summary>The connection string of the readiness check's data source: one connection.</summary>
    public string ForReadiness(string connectionString) => Sized(connectionString, Readiness);

    /// <summary>
    /// The budget decides the pools' sizes, whatever the connection string says: a <c>Maximum Pool Size</c> there
    /// would let one pool take what the others were given (the server logs that it ignored it).
    /// </summary>
    private static string Sized(string connectionString, int size)
    {
        var settings = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = true, MaxPoolSize = size };
        settings.MinPoolSize = Math.Min(settings.MinPoolSize, size);
        return settings.ConnectionString;
    }

    /// <summary>
    /// Null when the connection string leaves pool sizes to the budget; otherwise what it set, for a log line.
    /// <c>Pooling=false</c> is refused at start (see <see cref="DatabaseHosting.CheckConnectionBudget"/>).
    /// </summary>
    public static int? ExplicitMaxPoolSize(string connectionString)
    {
        var settings = new NpgsqlConnectionStringBuilder(connectionString);
        return settings.MaxPoolSize == new NpgsqlConnectionStringBuilder().MaxPoolSize ? null : settings.MaxPoolSize;
    }
}

/// <summary>
/// Service keys of the data sources that hold connections of their own beside the server's pool (each a keyed
/// <see cref="NpgsqlDataSource"/> singleton, disposed with the container).
/// </summary>
public static class OwnDataSource
{
    /// <summary>
    /// The readiness check's pool of one connection: a busy server whose pool is full (requests waiting their turn)
    /// still answers <c>/readyz</c>, so a load balancer does not take it out, and its load onto the others, for being busy.
    /// </summary>
    public const string Readiness = "readiness";

    /// <summary>The change listener's one connection (<see cref="ConnectionBudget.ForListener"/>), opened per listen.</summary>
    public const string Listener = "listener";
}
