using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Maintenance;

/// <summary>
/// The fleet's numbers with a paused sensor, and the fleet's uptime per day, on a server of its own: every sensor it
/// counts is one this class made, so the expected numbers can be worked out by hand.
/// </summary>
public sealed class PausedFleetTests(RunningServer running) : IClassFixture<RunningServer>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private HttpClient Operator => running.Operator;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_paused_sensor_is_counted_paused_and_left_out_of_the_silent_share_and_the_fleet_uptime_is_per_day()
    {
        // History made up in the database, worked by hand relative to today's UTC midnight D0:
        //   A: provisioned D0−2d 06:00, never overdue (30-day threshold), an alert D0−2d 12:00–13:00.
        //   B: provisioned D0−3d, an alert D0−1d 00:00–02:00, retired (failed) D0−1d 12:00.
        // D0−2d: A 64,800 s (3,600 down) + B 86,400 s = 151,200 monitored, 3,600 down: 147,600 / 151,200 = 97.619%.
        // D0−1d: A 86,400 s + B 43,200 s (7,200 down) = 129,600 monitored, 7,200 down: 122,400 / 129,600 = 94.444%.
        var today = new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date, TimeSpan.Zero);
        var a = await InsertSensorAsync("fu-a", today.AddDays(-2).AddHours(6), retiredAt: null);
        await InsertAlertAsync(a, today.AddDays(-2).AddHours(12), today.AddDays(-2).AddHours(13));
        var b = await InsertSensorAsync("fu-b", today.AddDays(-3), retiredAt: today.AddDays(-1).AddHours(12));
        await InsertAlertAsync(b, today.AddDays(-1), today.AddDays(-1).AddHours(2));

        // Live: one silent, one online, and one that went silent and was then paused (its alert stays open).
        var silentToken = await ProvisionedAsync("fl-silent", 3);
        var pausedToken = await ProvisionedAsync("fl-paused", 3);
        var onlineToken = await ProvisionedAsync("fl-online", 600);
        using var sensor = new HttpClient { BaseAddress = running.Server.BaseAddress };
        foreach (var (id, token) in new[] { ("fl-silent", silentToken), ("fl-paused", pausedToken), ("fl-online", onlineToken) })
        {
            await StoredHeartbeatAsync(sensor, id, token);
        }

        await WaitForStatusAsync("fl-silent", "silent");
        await WaitForStatusAsync("fl-paused", "silent");
        using (var pause = await Operator.PostAsJsonAsync(
            new Uri("/api/sensors/fl-paused/pause", UriKind.Relative), new { until = DateTimeOffset.UtcNow.AddHours(2).ToString("O", CultureInfo.InvariantCulture) }, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, pause.StatusCode);
        }

        // 1 silent of the 2 online or silent: 50%. Counted silent, the paused one would make it 2 of 3.
        var fleet = await Eventually.MatchesAsync(
            async () => await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/fleet", UriKind.Relative), Cancel),
            numbers => numbers.GetProperty("sensors").GetProperty("paused").GetInt32() == 1,
            Patience,
            "the fleet counts the paused sensor");
        var counts = fleet.GetProperty("sensors");
        Assert.Equal(5, counts.GetProperty("total").GetInt32());
        Assert.Equal(1, counts.GetProperty("pending").GetInt32());
        Assert.Equal(1, counts.GetProperty("online").GetInt32());
        Assert.Equal(1, counts.GetProperty("silent").GetInt32());
        Assert.Equal(1, counts.GetProperty("retired").GetInt32());
        Assert.Equal(50, fleet.GetProperty("silentPercent").GetDouble());
        // Its alert stays open as history; only its status says paused.
        Assert.Equal(2, await Sql.ScalarAsync(running.ConnectionString, "SELECT count(*) FROM alert WHERE resolved_at IS NULL"));

        var uptime = await Operator.GetFromJsonAsync<JsonElement>(new Uri("/api/fleet/uptime?days=3", UriKind.Relative), Cancel);
        var days = uptime.GetProperty("buckets").EnumerateArray().ToList();
        Assert.Equal(3, days.Count);
        Assert.Equal(today.AddDays(-2).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), days[0].GetProperty("day").GetString());
        Assert.Equal(97.619, days[0].GetProperty("uptimePercent").GetDouble());
        Assert.Equal(2, days[0].GetProperty("sensors").GetInt32());
        Assert.Equal(94.444, days[1].GetProperty("uptimePercent").GetDouble());
        Assert.Equal(2, days[1].GetProperty("sensors").GetInt32());
        // Today: A and the three live sensors (B is retired).
        Assert.Equal(4, days[2].GetProperty("sensors").GetInt32());
    }

    private async Task<string> ProvisionedAsync(string id, int thresholdSeconds) =>
        (await ProvisionAsync(Operator, id, new { id, silenceThresholdSeconds = thresholdSeconds })).Token;

    private async Task<long> InsertSensorAsync(string name, DateTimeOffset createdAt, DateTimeOffset? retiredAt) =>
        await Sql.ScalarAsync(running.ConnectionString, """
            INSERT INTO sensor (name, token_hash, created_at, silence_threshold_seconds, retired_at, retired_reason)
            VALUES ($1, 'x', $2, 2592000, $3, CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE 'failed' END) RETURNING id
            """, name, createdAt, (object?)retiredAt ?? DBNull.Value);

    private async Task InsertAlertAsync(long sensorId, DateTimeOffset from, DateTimeOffset to) =>
        await Sql.ScalarAsync(running.ConnectionString,
            "INSERT INTO alert (sensor_id, kind, silent_since, raised_at, resolved_at) VALUES ($1, 'silent', $2, $2, $3)", sensorId, from, to);

    private Task WaitForStatusAsync(string id, string status) =>
        Eventually.TrueAsync(
            async () => (await Operator.GetFromJsonAsync<JsonElement>(new Uri($"/api/sensors/{id}", UriKind.Relative), Cancel)).GetProperty("status").GetString() == status,
            Patience,
            $"{id} is {status}");
}
