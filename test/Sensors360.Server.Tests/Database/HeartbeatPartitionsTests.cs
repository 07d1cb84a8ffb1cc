using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Sensors360.Server.Database;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Database;

public sealed class HeartbeatPartitionsTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task Partitions_for_the_coming_months_appear_as_days_go_by()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(Partitions_for_the_coming_months_appear_as_days_go_by));
        await using var db = NpgsqlDataSource.Create(connectionString);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var partitions = new HeartbeatPartitions(db, clock, NullLogger<HeartbeatPartitions>.Instance);
        await partitions.StartAsync(TestContext.Current.CancellationToken);
        var inFourMonths = clock.GetUtcNow().AddMonths(4);
        var expected = $"heartbeat_{inFourMonths:yyyy_MM}";
        Assert.Equal(0, await Sql.ScalarAsync(connectionString, "SELECT count(*) FROM pg_class WHERE relname = $1", expected));

        // Day by day for three months, as a long-running server would live them.
        for (var day = 0; day < 95; day++)
        {
            clock.Advance(TimeSpan.FromDays(1));
        }

        await Eventually.TrueAsync(
            async () => await Sql.ScalarAsync(connectionString, "SELECT count(*) FROM pg_class WHERE relname = $1", expected) == 1,
            TimeSpan.FromSeconds(20),
            $"partition {expected} exists");
        await partitions.StopAsync(TestContext.Current.CancellationToken);
    }
}
