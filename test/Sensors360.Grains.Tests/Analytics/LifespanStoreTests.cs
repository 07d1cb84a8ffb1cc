using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Sensors360.Grains.Analytics;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Analytics;

/// <summary>Deaths and censoring as docs/analytics.md defines them, read from sensors placed by hand.</summary>
public sealed class LifespanStoreTests(ThrowawayPostgres postgres)
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Failed_means_retired_as_failed_or_silent_past_the_presumed_death_and_everything_else_is_censored()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(Failed_means_retired_as_failed_or_silent_past_the_presumed_death_and_everything_else_is_censored));
        await using var db = NpgsqlDataSource.Create(connectionString);
        // name, tags, first heartbeat (days before now), last heartbeat (days before now), retired reason.
        await InsertAsync(db, "retired-failed", ["site-a"], 100, 40, "failed");      // failed, 60 d
        await InsertAsync(db, "decommissioned", ["site-a"], 100, 10, "decommissioned"); // censored, 90 d
        await InsertAsync(db, "alive", ["site-b"], 50, 0.001, null);                  // censored, ~50 d
        await InsertAsync(db, "silent-2-days", ["site-b"], 30, 2, null);              // failed, 28 d
        await InsertAsync(db, "silent-2-hours", ["site-a"], 20, 2.0 / 24, null);      // censored, 20 d − 2 h
        await InsertAsync(db, "single-beat", ["site-a"], 5, 5, null);                 // failed, 0 s (silent for 5 days)
        await InsertAsync(db, "never-reported", ["site-a"], null, null, null);        // no lifespan
        var store = new LifespanStore(db, Options.Create(new AnalyticsOptions { PresumedDeadAfter = TimeSpan.FromDays(1) }), new FakeTimeProvider(Now));

        var all = Sorted(await store.ReadAsync(tag: null, CancellationToken.None));
        var siteA = Sorted(await store.ReadAsync("site-a", CancellationToken.None));

        const double Day = 86_400;
        LifespanObservation[] expectedAll =
            [new(0, true), new((20 - (2.0 / 24)) * Day, false), new(28 * Day, true), new((50 - 0.001) * Day, false), new(60 * Day, true), new(90 * Day, false)];
        LifespanObservation[] expectedSiteA = [new(0, true), new((20 - (2.0 / 24)) * Day, false), new(60 * Day, true), new(90 * Day, false)];
        Assert.Equal(expectedAll.Select(Rounded), all.Select(Rounded));
        Assert.Equal(expectedSiteA.Select(Rounded), siteA.Select(Rounded));

        // A longer presumption turns the two-day silence back into a censored life.
        var patient = new LifespanStore(db, Options.Create(new AnalyticsOptions { PresumedDeadAfter = TimeSpan.FromDays(3) }), new FakeTimeProvider(Now));
        Assert.Contains(new LifespanObservation(28 * Day, false), (await patient.ReadAsync(tag: null, CancellationToken.None)).Select(Rounded));
    }

    private static LifespanObservation[] Sorted(IReadOnlyList<LifespanObservation> observations) =>
        [.. observations.OrderBy(observation => observation.Seconds)];

    private static LifespanObservation Rounded(LifespanObservation observation) => new(Math.Round(observation.Seconds, 3), observation.Failed);

    private static async Task InsertAsync(NpgsqlDataSource db, string name, string[] tags, double? firstDaysAgo, double? lastDaysAgo, string? retiredReason)
    {
        await using var command = db.CreateCommand("""
            INSERT INTO sensor (name, tags, token_hash, created_at, first_heartbeat_at, last_heartbeat_at, heartbeat_count, retired_at, retired_reason)
            VALUES ($1, $2, 'sha256:x', $3 - interval '200 days', $4::timestamptz, $5::timestamptz,
                    CASE WHEN $4::timestamptz IS NULL THEN 0 ELSE 2 END,
                    CASE WHEN $6::text IS NULL THEN NULL ELSE $5::timestamptz END, $6::text)
            """);
        command.Parameters.AddWithValue(name);
        command.Parameters.AddWithValue(tags);
        command.Parameters.AddWithValue(Now);
        command.Parameters.AddWithValue(firstDaysAgo is { } first ? Now.AddDays(-first) : DBNull.Value);
        command.Parameters.AddWithValue(lastDaysAgo is { } last ? Now.AddDays(-last) : DBNull.Value);
        command.Parameters.AddWithValue((object?)retiredReason ?? DBNull.Value);
        await command.ExecuteNonQueryAsync();
    }
}
