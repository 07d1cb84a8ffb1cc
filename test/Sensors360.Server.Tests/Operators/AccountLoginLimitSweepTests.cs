using Microsoft.Extensions.Logging.Abstractions;
using Sensors360.Server.Operators;
using Sensors360.Server.Tests.Http;

namespace Sensors360.Server.Tests.Operators;

/// <summary>
/// The account login limit's two partitioned limiters (failures per name, turns per name) survive their sweep of
/// idle partitions (<see cref="Server.Http.IdlePartitionSweep"/>): a login whose partition is swept under it is asked
/// again, not failed. <see cref="LoginLimitTests"/> shows the limit itself through a real server.
/// </summary>
public sealed class AccountLoginLimitSweepTests
{
    [Fact]
    public async Task A_login_whose_partitions_are_swept_under_it_takes_its_turn_and_counts_in_fresh_ones()
    {
        var failures = new SweptOnce<string>(permitLimit: 1);
        var turns = new SweptOnce<string>(permitLimit: 1);
        using var limit = new AccountLoginLimit(NullLogger<AccountLoginLimit>.Instance, failures, turns);

        using (var turn = await limit.WaitTurnAsync("admin", CancellationToken.None))
        {
            Assert.True(turn.IsAcquired);
        }

        Assert.False(limit.IsLocked("admin", null, out _));
        Assert.Equal((1, 1), (failures.Swept, turns.Swept));
        // The name's fresh partition counts the failure: its one permit is used, so the name is locked.
        limit.RecordFailure("admin", null);
        Assert.True(limit.IsLocked("admin", null, out _));
    }
}
