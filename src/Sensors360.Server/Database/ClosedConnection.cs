using Npgsql;

namespace Sensors360.Server.Database;

/// <summary>
/// The failure of a pooled connection that the database had closed while the pool held it (a restart, a terminated
/// or timed-out idle backend). Npgsql empties the pool when it finds one, so the same statement on a new connection
/// most likely works. A database that refuses connections fails on connect with a socket error, not this way; one
/// behind a proxy that accepts and then hangs up may match, which costs that read one more attempt.
/// </summary>
internal static class ClosedConnection
{
    public static bool Is(Exception e) => e switch
    {
        PostgresException postgres => postgres.SqlState
            is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.IdleSessionTimeout,
        NpgsqlException npgsql => npgsql.InnerException is IOException,
        _ => false,
    };
}
