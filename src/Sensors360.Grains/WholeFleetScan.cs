using Npgsql;

namespace Sensors360.Grains;

/// <summary>What every statement that scans the whole fleet every few seconds runs first, in its own transaction.</summary>
internal static class WholeFleetScan
{
    /// <summary>
    /// Turns PostgreSQL's JIT off for the rest of <paramref name="transaction"/>: the planner costs these scans high enough
    /// to compile them on every call (99% of the fleet count's time, about 240 ms at 1,000 sensors, docs/database.md),
    /// and compiled code cannot pay that back within one scan.
    /// </summary>
    public static async Task WithoutJitAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var noJit = new NpgsqlCommand("SET LOCAL jit = off", connection, transaction);
        await noJit.ExecuteNonQueryAsync(cancellationToken);
    }
}
