using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Sensors360.Server.Database;

namespace Sensors360.Server.Health;

/// <summary>
/// Healthy when the database answers a trivial query within a couple of seconds, on a connection of its own: a full
/// pool means a busy server, not a database that does not answer.
/// </summary>
internal sealed class PostgresCheck([FromKeyedServices(OwnDataSource.Readiness)] NpgsqlDataSource database) : IHealthCheck
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);
        try
        {
            try
            {
                await AnswerAsync(deadline.Token);
            }
            catch (Exception e) when (ClosedConnection.Is(e))
            {
                // A connection the database closed while it sat in the pool (after a restart) says nothing of the
                // database now: the pool is emptied on finding it, so ask on a new one.
                await AnswerAsync(deadline.Token);
            }

            return HealthCheckResult.Healthy("database answers");
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"database unreachable: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    private async Task AnswerAsync(CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand("SELECT 1");
        await command.ExecuteScalarAsync(cancellationToken);
    }
}
