using System.Collections.Concurrent;
using System.Net;
using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>
/// The heartbeat writer stores thousands of sensors' heartbeats in one batch; a heartbeat row the database refuses
/// fails its own heartbeat and no other, and a sensor row another transaction holds fails none (a heartbeat writes
/// no sensor row; the checkpoint skips the held one until it is free).
/// </summary>
public sealed class HeartbeatBatchIsolationTests(ThrowawayPostgres postgres)
{
    private const int Others = 2_000;

    // In flight at once: enough that the writer forms large batches, so the odd heartbeat shares one with hundreds of others.
    private const int Senders = 200;

    // How long the checkpoint may take to catch up, generous for a loaded machine.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_sensor_row_locked_by_another_transaction_delays_no_heartbeat_and_its_counters_catch_up_once_it_is_free()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_sensor_row_locked_by_another_transaction_delays_no_heartbeat_and_its_counters_catch_up_once_it_is_free));
        await using var server = ServerProcess.Start(database, "batch-lock");
        await server.WaitUntilReadyAsync();
        var token = await CreateSensorsAsync(database, "locked");

        // Another transaction holds the sensor's row, as an operator's open transaction or a long import batch would.
        await using var holder = new NpgsqlConnection(database);
        await holder.OpenAsync(Cancel);
        await using var holding = await holder.BeginTransactionAsync(Cancel);
        await using (var hold = new NpgsqlCommand("SELECT id FROM sensor WHERE name = 'locked' FOR UPDATE", holder, holding))
        {
            Assert.NotNull(await hold.ExecuteScalarAsync(Cancel));
        }

        // A heartbeat writes no sensor row, so the held one stops nothing: all are stored, the locked sensor's too.
        // Were any of them waiting for the row, it would stay locked past the server's command timeout and they would fail.
        var (others, odd) = await BurstAsync(server, token, "locked");

        AssertAllStored(others);
        Assert.Equal(HttpStatusCode.NoContent, odd.Status);
        Assert.Equal(Others, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name LIKE 'other-%'"));
        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = 'locked'"));

        // The checkpoint skips the held row rather than wait for it: the others' counters are written meanwhile.
        await Eventually.TrueAsync(
            async () => await Sql.ScalarAsync(database, "SELECT coalesce(sum(heartbeat_count), 0) FROM sensor WHERE name LIKE 'other-%'") == Others,
            Bound,
            "the other sensors' counters are checkpointed while one row is held");
        await holding.RollbackAsync(Cancel);
        await Eventually.TrueAsync(
            async () => await Sql.ScalarAsync(database, "SELECT heartbeat_count FROM sensor WHERE name = 'locked'") == 1,
            Bound,
            "the locked sensor's counters are checkpointed once its row is free");
    }

    [Fact]
    public async Task A_row_the_database_refuses_fails_only_its_own_heartbeat_and_2000_others_are_stored()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_row_the_database_refuses_fails_only_its_own_heartbeat_and_2000_others_are_stored));
        await using var server = ServerProcess.Start(database, "batch-bad");
        await server.WaitUntilReadyAsync();
        var token = await CreateSensorsAsync(database, "refused");

        // A constraint the row breaks, as a bad value would: here a trigger refusing that one sensor's heartbeat row.
        var refused = await Sql.ScalarAsync(database, "SELECT id FROM sensor WHERE name = 'refused'");
        await Sql.ScalarAsync(database, $$"""
            CREATE FUNCTION refuse_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'sensor refused refused by the test' USING ERRCODE = 'check_violation'; END $$;
            CREATE TRIGGER refuse_for_test BEFORE INSERT ON heartbeat FOR EACH ROW WHEN (NEW.sensor_id = {{refused}}) EXECUTE FUNCTION refuse_for_test();
            """);

        var (others, odd) = await BurstAsync(server, token, "refused");

        AssertAllStored(others);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, odd.Status);
        Assert.Equal(Others, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name LIKE 'other-%'"));
        Assert.Equal(0, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = 'refused'"));
        Assert.Contains(server.Output, line => line.Contains("sensor refused refused by the test", StringComparison.Ordinal));
    }

    /// <summary>The odd sensor and <see cref="Others"/> more, provisioned in the table with one token.</summary>
    private static async Task<string> CreateSensorsAsync(string database, string odd)
    {
        var token = SensorTokens.NewToken();
        Assert.Equal(Others + 1, await Sql.ScalarAsync(database, """
            WITH made AS (
                INSERT INTO sensor (name, token_hash)
                SELECT 'other-' || g, $1 FROM generate_series(1, $2) AS g UNION ALL SELECT $3, $1
                RETURNING 1)
            SELECT count(*) FROM made
            """, SensorTokens.Hash(token), Others, odd));
        return token;
    }

    /// <summary>
    /// One heartbeat for each of the others, <see cref="Senders"/> at a time, with the odd sensor's sent in the middle
    /// of them, so it lands in a batch among others. Every answer, with its status.
    /// </summary>
    private static async Task<(IReadOnlyDictionary<string, HttpStatusCode> Others, (HttpStatusCode Status, bool RetryAfter) Odd)> BurstAsync(
        ServerProcess server, string token, string odd)
    {
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Senders })
        {
            BaseAddress = server.BaseAddress,
            Timeout = TimeSpan.FromSeconds(60),
        };
        var answers = new ConcurrentDictionary<string, HttpStatusCode>();
        (HttpStatusCode, bool) oddAnswer = default;
        string[] names = [.. Enumerable.Range(1, Others / 2).Select(i => $"other-{i}"), odd, .. Enumerable.Range((Others / 2) + 1, Others / 2).Select(i => $"other-{i}")];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Senders).Select(async _ =>
        {
            int item;
            while ((item = Interlocked.Increment(ref next)) < names.Length)
            {
                var name = names[item];
                using var response = await SensorHeartbeats.SendAsync(client, name, token, cancellationToken: Cancel);
                if (name == odd)
                {
                    oddAnswer = (response.StatusCode, response.Headers.RetryAfter is not null);
                }
                else
                {
                    answers[name] = response.StatusCode;
                }
            }
        }));
        return (answers, oddAnswer);
    }

    private static void AssertAllStored(IReadOnlyDictionary<string, HttpStatusCode> others)
    {
        Assert.Equal(Others, others.Count);
        var tally = string.Join(", ", others.Values.GroupBy(status => (int)status).Select(group => $"{group.Key}: {group.Count()}"));
        Assert.True(others.Values.All(status => status == HttpStatusCode.NoContent), $"The others' answers: {tally}");
    }
}
