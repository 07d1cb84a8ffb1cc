using Npgsql;

namespace Sensors360.Grains;

/// <summary>What the grains count as the database failing (down, too slow, a connection that broke) rather than a bug.</summary>
internal static class DatabaseFailure
{
    /// <summary>Npgsql's errors, timeouts, and the <see cref="InvalidOperationException"/> Npgsql wraps a broken connection's error in.</summary>
    public static bool Is(Exception e) =>
        e is NpgsqlException or TimeoutException or InvalidOperationException { InnerException: NpgsqlException };
}
