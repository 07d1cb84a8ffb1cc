using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// The sensor table's fill (schema/0019): each checkpoint writes a new version of the row of every sensor that beat in
/// its period, a fraction of each page's rows when those sensors are scattered over the pages, every row of a page
/// when they have consecutive ids. Each new version must fit on its row's page, so that the update is HOT (no index
/// entry, no row leaving its page) and the heap and its indexes do not grow with every period.
/// Each test runs on a PostgreSQL server of its own: a transaction holding a transaction id in any database of the
/// server keeps the old versions from being pruned (PostgreSQL 15 compares them with the oldest running id of all
/// databases), and in the suite's shared server the other test classes' transactions moved hundreds of rows at times.
/// </summary>
public sealed class SensorTableFillTests
{
    private const int Sensors = 4_000;
    // Sensors beating once a minute, checkpointed every 3 s: each checkpoint moves a twentieth of the fleet.
    private const int Slices = 20;
    private const int Cycles = 2;

    [Fact]
    public async Task Checkpoints_of_a_fleet_a_twentieth_at_a_time_keep_its_rows_on_their_pages()
    {
        await using var postgres = await ThrowawayPostgres.StartAsync();
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(Checkpoints_of_a_fleet_a_twentieth_at_a_time_keep_its_rows_on_their_pages));
        var t0 = HeartbeatTimes.ToStoredPrecision(DateTimeOffset.UtcNow.AddDays(-1));
        await ProvisionOnlineAsync(connectionString, Sensors, t0);
        var pagesBefore = await PagesAsync(connectionString);

        await using var db = NpgsqlDataSource.Create(connectionString);
        using var standalone = new StandaloneCheckpoint(db);
        var checkpoint = standalone.Checkpoint;
        var ids = pagesBefore.Keys.Order().ToArray();
        var last = ids.ToDictionary(id => id, _ => t0);
        var pages = pagesBefore;
        var movedPerCheckpoint = new List<int>();
        for (var round = 0; round < Slices * Cycles; round++)
        {
            // One heartbeat since each noted sensor's checkpoint; the slices interleave over the pages, as beating sensors do.
            foreach (var id in ids.Where(id => id % Slices == round % Slices))
            {
                var beat = t0.AddMinutes(round + 1);
                checkpoint.Note(id, last[id], beat, 1);
                last[id] = beat;
            }

            (pages, var movedNow) = await WriteCheckpointAsync(connectionString, checkpoint, pages);
            movedPerCheckpoint.Add(movedNow);
        }

        Assert.Equal(0, checkpoint.Pending);
        Assert.Equal(Sensors * (1 + Cycles), await Sql.ScalarAsync(connectionString, "SELECT sum(heartbeat_count)::bigint FROM sensor"));
        var moved = ids.Count(id => pages[id] != pagesBefore[id]);
        // Packed full (PostgreSQL's default fill) 316 of the 4,000 left their page here; with schema/0019's room, none.
        // A little slack for a page another process had pinned as it was read, which is then not pruned.
        Assert.True(moved <= Sensors / 100,
            $"{moved} of {Sensors} sensor rows left their page over {Slices * Cycles} checkpoints: their updates were not HOT; per checkpoint: {string.Join(", ", movedPerCheckpoint)}");
    }

    [Fact]
    public async Task Checkpoints_that_rewrite_whole_pages_move_rows_apart_until_each_page_has_room_then_keep_them()
    {
        // Sensors with consecutive ids beating in the same period (provisioned and switched on together, or the bench's
        // round-robin): every checkpoint writes a new version of every row of their pages. A page 70% full cannot hold
        // them all, so some rows move to pages with room; once each page holds what it can rewrite, none moves again.
        // Here at 70%: 532, 292, 154, 84, 42, 26 and 10 rows moved in the first seven checkpoints, then none. Packed
        // full, moved rows land on full pages again and never settle: 899–1,000 every checkpoint.
        // In the suite's shared server a checkpoint now and then moved hundreds all the same (408 and 736 in the third
        // and fourth; 834 in the sixteenth): another test's transaction held back the prunes. On a server of its own
        // that cannot happen, but the run stays long enough to settle after such a checkpoint, and most of its last
        // checkpoints, not all, must move next to none: a page pinned by another process when it is read is not pruned.
        const int sensors = 1_000;
        const int checkpoints = 20;
        const int last = 7;
        const int quietAtLeast = 4;
        await using var postgres = await ThrowawayPostgres.StartAsync();
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(Checkpoints_that_rewrite_whole_pages_move_rows_apart_until_each_page_has_room_then_keep_them));
        var t0 = HeartbeatTimes.ToStoredPrecision(DateTimeOffset.UtcNow.AddDays(-1));
        await ProvisionOnlineAsync(connectionString, sensors, t0);

        await using var db = NpgsqlDataSource.Create(connectionString);
        using var standalone = new StandaloneCheckpoint(db);
        var checkpoint = standalone.Checkpoint;
        var pages = await PagesAsync(connectionString);
        var ids = pages.Keys.Order().ToArray();
        var movedPerCheckpoint = new List<int>();
        for (var round = 0; round < checkpoints; round++)
        {
            foreach (var id in ids)
            {
                checkpoint.Note(id, t0.AddMinutes(round), t0.AddMinutes(round + 1), 1);
            }

            (pages, var movedNow) = await WriteCheckpointAsync(connectionString, checkpoint, pages);
            movedPerCheckpoint.Add(movedNow);
        }

        Assert.Equal(0, checkpoint.Pending);
        Assert.Equal(sensors * (1 + checkpoints), await Sql.ScalarAsync(connectionString, "SELECT sum(heartbeat_count)::bigint FROM sensor"));
        var quiet = movedPerCheckpoint.TakeLast(last).Count(moved => moved <= sensors / 100);
        Assert.True(quiet >= quietAtLeast,
            $"rows that left their page, per checkpoint: {string.Join(", ", movedPerCheckpoint)}; at least {quietAtLeast} of the last {last} should have moved at most {sensors / 100} each");
    }

    /// <summary>
    /// Online sensors as bulk provisioning and a first checkpoint leave them (a name, two tags, a token hash, counters,
    /// one heartbeat), analyzed as autovacuum leaves a provisioned fleet's table, so the checkpoint's statements plan
    /// as on a real one.
    /// </summary>
    private static async Task ProvisionOnlineAsync(string connectionString, int sensors, DateTimeOffset at)
    {
        await Sql.ScalarAsync(connectionString, """
            WITH s AS (INSERT INTO sensor (name, tags, token_hash, first_heartbeat_at, last_heartbeat_at, heartbeat_count)
                       SELECT 'fleet-' || lpad(g::text, 7, '0'), ARRAY['site-' || g % 50, 'model-' || g % 7],
                              'sha256:' || encode(sha256(g::text::bytea), 'hex'), $1, $1, 1
                       FROM generate_series(1, $2) AS g RETURNING id)
            INSERT INTO heartbeat (sensor_id, received_at) SELECT id, $1 FROM s
            """, at, sensors);
        await Sql.ScalarAsync(connectionString, "VACUUM ANALYZE sensor");
        // No autovacuum or autoanalyze of the table during the test: an autoanalyze's snapshot keeps old versions from
        // being pruned, and a vacuum's pin on a page skips its prune, so rows can move for reasons that are not the fill.
        await Sql.ScalarAsync(connectionString, "ALTER TABLE sensor SET (autovacuum_enabled = false)");
    }

    /// <summary>
    /// Waits until no other session in the server, in any of its databases, holds a snapshot or a transaction id: a
    /// page is pruned only of versions no snapshot can see and older than every running transaction, so an autoanalyze
    /// would keep the old versions and rows would move for a reason that is not the table's fill.
    /// </summary>
    private static Task NoOtherSnapshotAsync(string connectionString) => Eventually.TrueAsync(
        async () => await Sql.ScalarAsync(connectionString, """
            SELECT count(*) FROM pg_stat_activity
            WHERE pid <> pg_backend_pid() AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)
            """) == 0,
        TimeSpan.FromSeconds(30), "no other session in the test's server holds a snapshot or a transaction id");

    /// <summary>Writes what is noted, with no other snapshot open, and counts the rows that left their page.</summary>
    private static async Task<(Dictionary<long, long> Pages, int Moved)> WriteCheckpointAsync(
        string connectionString, SensorCheckpoint checkpoint, Dictionary<long, long> pages)
    {
        await NoOtherSnapshotAsync(connectionString);
        await checkpoint.WriteAsync(CancellationToken.None);
        var after = await PagesAsync(connectionString);
        return (after, after.Count(row => row.Value != pages[row.Key]));
    }

    /// <summary>Each sensor row's heap page.</summary>
    private static async Task<Dictionary<long, long>> PagesAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, (ctid::text::point)[0]::bigint FROM sensor", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var pages = new Dictionary<long, long>();
        while (await reader.ReadAsync())
        {
            pages[reader.GetInt64(0)] = reader.GetInt64(1);
        }

        return pages;
    }
}
