using Npgsql;
using Sensors360.Grains.Maintenance;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Maintenance;

/// <summary>Removing a maintenance window at the edges of its time, on a real database.</summary>
public sealed class MaintenanceStoreTests(ThrowawayPostgres postgres)
{
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_window_removed_at_the_instant_it_starts_is_deleted_and_a_microsecond_later_ended()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(MaintenanceStoreTests));
        await using var db = NpgsqlDataSource.Create(database);
        var store = new MaintenanceStore(db);

        // Ended there it would last no time at all, which the table refuses (ends_at > starts_at): it has not begun.
        var atStart = await store.CreateAsync(Start, Start.AddHours(1), ["site-a"], null, "tester", Start.AddMinutes(-5), Cancel);
        Assert.Equal(MaintenanceRemoval.Deleted, await store.RemoveAsync(atStart.Id, Start, Cancel));

        // Begun by a microsecond (the database's resolution): ended then, its past kept.
        var begun = await store.CreateAsync(Start, Start.AddHours(1), ["site-a"], null, "tester", Start.AddMinutes(-5), Cancel);
        var aMicrosecondLater = Start.AddTicks(TimeSpan.TicksPerMicrosecond);
        Assert.Equal(MaintenanceRemoval.Ended, await store.RemoveAsync(begun.Id, aMicrosecondLater, Cancel));
        Assert.Equal(aMicrosecondLater, (await store.GetAsync(begun.Id, Cancel))!.End);
    }
}
