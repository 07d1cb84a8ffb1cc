using Npgsql;

namespace Sensors360.Server.Database;

/// <summary>
/// The failure of a pooled connection that the database had closed while the pool held it (a restart, a terminated
/// backend). Npgsql clears the pool when it finds one, so the same statement on a new connection most likely works.
/// A database that cannot be reached fails on connect instead, not this way, so trying again after this costs a
/// round trip, never a connect timeout.
/// </summary>
internal static class ClosedConnection
{
    public static bool Is(Exception e) => e switch
    {
        PostgresException postgres => postgres.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown,
        NpgsqlException npgsql => npgsql.InnerException is IOException,
        _ => false,
    };
}
