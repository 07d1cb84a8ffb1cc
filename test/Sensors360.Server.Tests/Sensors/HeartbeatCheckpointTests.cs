using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Sensors360.Server.Tests.Metrics;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Sensors;

/// <summary>
/// A heartbeat writes its row and nothing else: the sensor's counters are checkpointed in bulk per silo, rebuilt on
/// activation from the checkpoint plus the heartbeat rows after it, and its silence reminder is not rewritten.
/// </summary>
public sealed class HeartbeatCheckpointTests(ThrowawayPostgres postgres)
{
    // Longer than any of these tests runs between its checkpoints: the only checkpoints are the ones a test causes.
    private const string RareCheckpoints = "00:01:00";

    [Fact]
    public async Task Steady_heartbeats_update_no_sensor_row_until_the_checkpoint_writes_them_all_in_one_statement()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Steady_heartbeats_update_no_sensor_row_until_the_checkpoint_writes_them_all_in_one_statement));
        await using var server = ServerProcess.Start(database, "checkpoint-flat", new Dictionary<string, string?>
        {
            ["Sensors360__Monitoring__CheckpointPeriod"] = RareCheckpoints,
        });
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();
        var (_, token) = await ProvisionAsync(operatorClient, "flat-1");
        await StoredHeartbeatAsync(server.Http, "flat-1", token);

        // From here on, every change to a sensor row is counted, whoever makes it.
        await CountSensorUpdatesAsync(database, "sensor_row_updates", "ROW");
        for (var i = 0; i < 50; i++)
        {
            await StoredHeartbeatAsync(server.Http, "flat-1", token);
        }

        Assert.Equal(0, await Sql.ScalarAsync(database, "SELECT n FROM sensor_row_updates"));
        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT heartbeat_count FROM sensor WHERE name = 'flat-1'"));
        // Nor is any interval counted: the histogram moves with the checkpoint.
        Assert.Equal(0, await Sql.ScalarAsync(database, Intervals));
        // Readers of the sensor see every stored heartbeat all the same.
        Assert.Equal(51, await HeartbeatCountAsync(operatorClient, "flat-1"));

        // A stop writes the checkpoint once more: one row update for the fifty heartbeats.
        await server.StopAsync();
        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT n FROM sensor_row_updates"));
        Assert.Equal(51, await Sql.ScalarAsync(database, "SELECT heartbeat_count FROM sensor WHERE name = 'flat-1'"));
        Assert.Equal(50, await Sql.ScalarAsync(database, Intervals));
        Assert.Equal(1, await Sql.ScalarAsync(database, """
            SELECT count(*) FROM sensor s
            WHERE s.name = 'flat-1' AND s.last_heartbeat_at = (SELECT max(received_at) FROM heartbeat h WHERE h.sensor_id = s.id)
            """));
    }

    [Fact]
    public async Task A_kill_between_checkpoints_loses_no_count_and_raises_no_alert_for_a_sensor_that_kept_beating()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(A_kill_between_checkpoints_loses_no_count_and_raises_no_alert_for_a_sensor_that_kept_beating));
        // The threshold outlasts a restart on a busy machine; the sweep looks every second meanwhile.
        var threshold = TimeSpan.FromSeconds(30);
        var monitoring = new Dictionary<string, string?>
        {
            ["Sensors360__Monitoring__CheckpointPeriod"] = RareCheckpoints,
            ["Sensors360__Monitoring__SilenceThreshold"] = "00:00:30",
            ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
            ["Sensors360__Monitoring__SweepPeriod"] = "00:00:01",
        };
        string token;
        var accepted = 0;
        string adminPassword;
        await using (var crashing = ServerProcess.Start(database, "checkpoint-crash", monitoring))
        {
            await crashing.WaitUntilReadyAsync();
            adminPassword = crashing.AdminPassword;
            using var operatorClient = await crashing.LoginAsync();
            (_, token) = await ProvisionAsync(operatorClient, "crash-1");
            for (var i = 0; i < 20; i++)
            {
                await StoredHeartbeatAsync(crashing.Http, "crash-1", token);
                accepted++;
            }

            // Only the first heartbeat is checkpointed; the silo dies with the other nineteen noted in memory.
            crashing.KillAbruptly();
        }

        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT heartbeat_count FROM sensor WHERE name = 'crash-1'"));
        Assert.Equal(0, await Sql.ScalarAsync(database, Intervals));
        var checkpointed = await Sql.ScalarAsync(database, "SELECT (extract(epoch FROM last_heartbeat_at) * 1000000)::bigint FROM sensor WHERE name = 'crash-1'");
        var overdueByCheckpoint = DateTimeOffset.FromUnixTimeMilliseconds(checkpointed / 1000) + threshold;

        // A new cluster on the same database: the sensor's grain activates there from the checkpoint plus its rows.
        await using var restarted = ServerProcess.Start(database, "checkpoint-restart", monitoring, adminPassword: adminPassword);
        await restarted.WaitUntilReadyAsync();
        using (var operatorClient = await restarted.LoginAsync())
        {
            Assert.Equal(accepted, await HeartbeatCountAsync(operatorClient, "crash-1"));
        }

        // The sensor keeps beating until well past the moment the stale checkpoint calls it overdue, with the sweep
        // looking every second: a sweep or fallback that trusted the checkpoint would raise an alert here.
        while (DateTimeOffset.UtcNow < overdueByCheckpoint + TimeSpan.FromSeconds(5))
        {
            await StoredHeartbeatAsync(restarted.Http, "crash-1", token);
            accepted++;
            await Task.Delay(TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);
        }

        Assert.Equal(0, await Sql.ScalarAsync(database, "SELECT count(*) FROM alert"));
        await restarted.StopAsync();
        Assert.Equal(accepted, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat"));
        Assert.Equal(accepted, await Sql.ScalarAsync(database, "SELECT heartbeat_count FROM sensor WHERE name = 'crash-1'"));
        // The intervals the killed silo never checkpointed were counted by the checkpoint that passed them after the restart.
        Assert.Equal(await StoredIntervals.BucketsOfStoredAsync(database, ["crash-1"]), await StoredIntervals.HistogramAsync(database));
        Assert.Equal(accepted - 1, await Sql.ScalarAsync(database, Intervals));
        Assert.Equal(0, await Sql.ScalarAsync(database, "SELECT count(*) FROM alert"));
    }

    [Fact]
    public async Task The_interval_histogram_holds_the_intervals_up_to_the_checkpoint_also_after_an_import_among_heartbeats_past_it()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(The_interval_histogram_holds_the_intervals_up_to_the_checkpoint_also_after_an_import_among_heartbeats_past_it));
        await using var server = ServerProcess.Start(database, "checkpoint-histogram", new Dictionary<string, string?>
        {
            ["Sensors360__Monitoring__CheckpointPeriod"] = RareCheckpoints,
        });
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();
        var (_, token) = await ProvisionAsync(operatorClient, "hist-1");
        for (var i = 0; i < 5; i++)
        {
            await StoredHeartbeatAsync(server.Http, "hist-1", token);
        }

        // Only the first heartbeat is checkpointed: no interval ends at or before it.
        var live = await StoredIntervals.TimesAsync(database, "hist-1");
        Assert.Equal(5, live.Count);
        Assert.Equal(0, await Sql.ScalarAsync(database, Intervals));

        // History an hour before the first, and one heartbeat between the second and the third: the import moves the
        // checkpoint to it, so the intervals ending at the first, the second and it are counted, and no other.
        // To the microsecond, as heartbeats are stored.
        var between = new DateTimeOffset((live[1].UtcTicks + ((live[2].UtcTicks - live[1].UtcTicks) / 2)) / 10 * 10, TimeSpan.Zero);
        var body = string.Join('\n', [Line("hist-1", live[0].AddHours(-1)), Line("hist-1", between)]) + "\n";
        using (var content = new StringContent(body, Encoding.UTF8, "application/x-ndjson"))
        using (var imported = await operatorClient.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), content, TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.OK, imported.StatusCode);
        }

        Assert.Equal(1, await Sql.ScalarAsync(database, "SELECT count(*) FROM sensor WHERE name = 'hist-1' AND last_heartbeat_at = $1", between));
        Assert.Equal(3, await Sql.ScalarAsync(database, Intervals));
        Assert.Equal(await StoredIntervals.BucketsOfStoredAsync(database, ["hist-1"], upTo: between), await StoredIntervals.HistogramAsync(database));

        // A stop writes the checkpoint once more, to the last live heartbeat: every stored interval is counted, once.
        await server.StopAsync();
        Assert.Equal(6, await Sql.ScalarAsync(database, Intervals));
        Assert.Equal(await StoredIntervals.BucketsOfStoredAsync(database, ["hist-1"]), await StoredIntervals.HistogramAsync(database));
    }

    private const string Intervals = "SELECT coalesce(sum(intervals), 0)::bigint FROM heartbeat_interval_histogram";

    private static string Line(string sensor, DateTimeOffset at) =>
        $$"""{"sensor":"{{sensor}}","at":"{{at.ToString("O", CultureInfo.InvariantCulture)}}"}""";

    [Fact]
    public async Task Steady_heartbeats_write_no_reminder()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Steady_heartbeats_write_no_reminder));
        await using var server = ServerProcess.Start(database, "checkpoint-reminder", new Dictionary<string, string?>
        {
            ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
        });
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();
        var (_, token) = await ProvisionAsync(operatorClient, "steady-1");
        // A sensor's reminder is registered only once its silence comes within a check period (threshold 10 min here):
        // coming online and beating steadily write none, and none is held in memory.
        const string Reminder = "FROM orleans_reminder WHERE reminder_name = 'silence' AND grain_id LIKE '%steady-1'";
        for (var i = 0; i < 31; i++)
        {
            await StoredHeartbeatAsync(server.Http, "steady-1", token);
            Assert.Equal(0, await Sql.ScalarAsync(database, $"SELECT count(*) {Reminder}"));
        }

        Assert.Equal(31, await Sql.ScalarAsync(database, "SELECT heartbeat_count FROM sensor_status_rebuilt WHERE name = 'steady-1'"));
    }

    [Fact]
    public async Task Sensors_coming_online_together_are_checkpointed_before_their_answer_in_fewer_statements_than_sensors_and_counted_online()
    {
        const int Sensors = 64;
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(Sensors_coming_online_together_are_checkpointed_before_their_answer_in_fewer_statements_than_sensors_and_counted_online));
        await using var server = ServerProcess.Start(database, "checkpoint-first", new Dictionary<string, string?>
        {
            // The periodic checkpoint never runs during the test: whatever is written is the first heartbeats' own.
            ["Sensors360__Monitoring__CheckpointPeriod"] = RareCheckpoints,
        });
        await server.WaitUntilReadyAsync();
        using var admin = await server.LoginAsync();
        var body = new { sensors = Enumerable.Range(0, Sensors).Select(index => new { id = $"first-{index}" }) };
        string[] tokens;
        using (var created = await admin.PostAsJsonAsync(new Uri("/api/sensors/bulk", UriKind.Relative), body, TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var sensors = JsonDocument.Parse(await created.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("sensors");
            tokens = [.. sensors.EnumerateArray().Select(sensor => sensor.GetProperty("token").GetString()!)];
        }

        // Every statement that updates sensor rows is counted from here, whoever runs it.
        await CountSensorUpdatesAsync(database, "sensor_update_statements", "STATEMENT");
        var writesBefore = (await Scrape.ReadAsync(server.Http, TestContext.Current.CancellationToken)).Sum("sensors360_checkpoint_writes_total");

        await Task.WhenAll(Enumerable.Range(0, Sensors).Select(index => StoredHeartbeatAsync(server.Http, $"first-{index}", tokens[index])));

        // Answered means checkpointed: each row holds its one heartbeat, as the heartbeat rows say.
        Assert.Equal(Sensors, await Sql.ScalarAsync(database, """
            SELECT count(*) FROM sensor s
            WHERE s.name LIKE 'first-%' AND s.heartbeat_count = 1
              AND s.first_heartbeat_at = s.last_heartbeat_at
              AND s.last_heartbeat_at = (SELECT max(h.received_at) FROM heartbeat h WHERE h.sensor_id = s.id)
              AND (SELECT count(*) FROM heartbeat h WHERE h.sensor_id = s.id) = 1
            """));
        var statements = await Sql.ScalarAsync(database, "SELECT n FROM sensor_update_statements");
        Assert.InRange(statements, 1, Sensors - 1);
        var writes = (await Scrape.ReadAsync(server.Http, TestContext.Current.CancellationToken)).Sum("sensors360_checkpoint_writes_total") - writesBefore;
        Assert.Equal(statements, writes);

        // The fleet aggregate, told after each checkpoint, counts them all online (it reads within a second of a change).
        await Eventually.TrueAsync(async () =>
        {
            var fleet = JsonDocument.Parse(await admin.GetStringAsync(new Uri("/api/fleet", UriKind.Relative))).RootElement.GetProperty("sensors");
            return fleet.GetProperty("online").GetInt32() == Sensors && fleet.GetProperty("pending").GetInt32() == 0;
        }, TimeSpan.FromSeconds(10), $"the fleet counts all {Sensors} sensors online");
    }

    private static async Task<long> HeartbeatCountAsync(HttpClient operatorClient, string id)
    {
        using var response = await operatorClient.GetAsync(new Uri($"/api/sensors/{id}", UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {id}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("heartbeatCount").GetInt64();
    }

    /// <summary>From here on, counts into the one-row table <paramref name="table"/> every update of sensor rows, per row or per statement.</summary>
    private static Task<long> CountSensorUpdatesAsync(string database, string table, string per) => Sql.ScalarAsync(database, $$"""
        CREATE TABLE {{table}} (n bigint NOT NULL);
        INSERT INTO {{table}} VALUES (0);
        CREATE FUNCTION count_{{table}}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN UPDATE {{table}} SET n = n + 1; RETURN NULL; END $$;
        CREATE TRIGGER count_{{table}} AFTER UPDATE ON sensor FOR EACH {{per}} EXECUTE FUNCTION count_{{table}}();
        """);
}
