using Npgsql;

namespace Sensors360.Grains;

/// <summary>PostgreSQL's JIT, for the statements whose estimate reaches <c>jit_above_cost</c> but which cannot use it.</summary>
internal static class Jit
{
    /// <summary>
    /// Turns PostgreSQL's JIT off for the rest of <paramref name="transaction"/>. The planner costs the whole-fleet scans
    /// (every few seconds) and an import's per-sensor probes (every batch) high enough to compile them on every call
    /// (99% of the fleet count's time, about 240 ms at 1,000 sensors; 35 ms a statement of an import batch that probes
    /// nothing, docs/database.md), and compiled code cannot pay that back within one statement.
    /// </summary>
    public static async Task OffForTransactionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var noJit = new NpgsqlCommand("SET LOCAL jit = off", connection, transaction);
        await noJit.ExecuteNonQueryAsync(cancellationToken);
    }
}
