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
}
