using Npgsql;
using Sensors360.Abstractions.Alerts;
using Sensors360.Grains.Alerts;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>The sensor and alert stores' guarantees that do not depend on a single grain activation.</summary>
public sealed class SensorStoreTests(ThrowawayPostgres postgres)
{
    [Fact]
    public async Task Racing_raises_of_one_silence_open_exactly_one_alert_whatever_their_kind()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(Racing_raises_of_one_silence_open_exactly_one_alert_whatever_their_kind));
        await using var db = NpgsqlDataSource.Create(connectionString);
        var store = new SensorStore(db);
        var alerts = new AlertStore(db);
        var now = DateTimeOffset.UtcNow;
        var inserted = await store.InsertAsync("racer", [], null, SensorTokens.Hash(SensorTokens.NewToken()), now, CancellationToken.None);
        var sensorId = inserted!.Value.Id;

        // As two silos (or a grain and the silence sweep) would during a duplicate activation: many raises at once, each
        // on its own connection, of either kind: one open alert per sensor, whatever its kind.
        var ids = await Task.WhenAll(Enumerable.Range(0, 16).Select(i =>
            Task.Run(() => alerts.RaiseSilenceAsync(
                sensorId, "racer", i % 2 == 0 ? Alert.Silent : Alert.NeverReported, now.AddMinutes(-1), now, CancellationToken.None))));

        Assert.Single(ids.Select(alert => (alert.Id, alert.Kind)).Distinct());
        Assert.Equal(1, await Sql.ScalarAsync(connectionString, "SELECT count(*) FROM alert WHERE resolved_at IS NULL"));
        Assert.Null(await store.InsertAsync("racer", [], null, "sha256:other", now, CancellationToken.None));
    }

    [Fact]
    public async Task A_sensor_overdue_by_a_stale_checkpoint_but_not_by_its_heartbeat_rows_is_neither_swept_nor_raised_for_a_dead_silo()
    {
        var connectionString = await PreparedDatabase.CreateAsync(postgres, nameof(A_sensor_overdue_by_a_stale_checkpoint_but_not_by_its_heartbeat_rows_is_neither_swept_nor_raised_for_a_dead_silo));
        await using var db = NpgsqlDataSource.Create(connectionString);
        var store = new SensorStore(db);
        var alerts = new AlertStore(db);
        var now = HeartbeatTimes.ToStoredPrecision(DateTimeOffset.UtcNow);
        var threshold = TimeSpan.FromMinutes(1);
        var checkpointed = now.AddMinutes(-5);
        var token = SensorTokens.Hash(SensorTokens.NewToken());

        // Both checkpointed five minutes ago; "lagging" beat since (its silo died before the next checkpoint), "quiet" did not.
        var lagging = (await store.InsertAsync("lagging", [], null, token, now.AddMinutes(-10), CancellationToken.None))!.Value.Id;
        var quiet = (await store.InsertAsync("quiet", [], null, token, now.AddMinutes(-10), CancellationToken.None))!.Value.Id;
        await Sql.ScalarAsync(connectionString, "UPDATE sensor SET first_heartbeat_at = $1, last_heartbeat_at = $1, heartbeat_count = 1", checkpointed);
        await Sql.ScalarAsync(connectionString, "INSERT INTO heartbeat (sensor_id, received_at) VALUES ($2, $1), ($3, $1), ($2, $4)",
            checkpointed, lagging, quiet, now.AddSeconds(-10));

        await using (var connection = await db.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            var overdue = await SensorStore.ReadOverdueAsync(connection, transaction, now, threshold, 100, CancellationToken.None);
            var only = Assert.Single(overdue);
            Assert.Equal(("quiet", checkpointed, checkpointed + threshold), (only.Name, only.LastHeartbeatAt!.Value, only.SilentSince));
        }

        // As the sweep raises for grains it cannot reach, with the checkpoint's last heartbeat, the grain's silo unreachable: refused for
        // the sensor whose rows go on, raised for the one whose do not.
        var raised = await alerts.RaiseSilencesIfUnchangedAsync(
            [new OverdueSensor(lagging, "lagging", checkpointed, checkpointed + threshold), new OverdueSensor(quiet, "quiet", checkpointed, checkpointed + threshold)],
            now, CancellationToken.None);
        var alert = Assert.Single(raised);
        Assert.Equal(("quiet", Alert.Silent, checkpointed + threshold), (alert.SensorId, alert.Kind, alert.SilentSince));
        Assert.Equal(1, await Sql.ScalarAsync(connectionString, "SELECT count(*) FROM alert"));
    }
}
