using System.Text;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Abstractions.Sensors;
using Sensors360.Server.Dashboard;
using Sensors360.Server.Sensors;

namespace Sensors360.Server.Tests.Dashboard;

/// <summary>Each feed frame's exact JSON, as docs/websocket.md shows it to browsers: <c>type</c> first, camelCase fields.</summary>
public sealed class FeedMessagesTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 27, 19, 45, 0, 123, TimeSpan.Zero);
    private static readonly Alert Raised = new(42, "boiler-7", "silent", At.AddMinutes(-10), At.AddMinutes(-9), null, null, null);

    private const string RaisedJson =
        """{"id":42,"sensorId":"boiler-7","kind":"silent","silentSince":"2026-11-27T19:35:00.123+00:00","raisedAt":"2026-11-27T19:36:00.123+00:00","resolvedAt":null,"acknowledgedAt":null,"acknowledgedBy":null}""";

    [Fact]
    public void A_snapshot_frame_carries_the_fleet_and_no_alerts()
    {
        var fleet = new FleetSnapshot(new SensorCounts(4, 1, 2, 1, 0), 33.33, 5.02, null, 4.901, 7.337, 512.4, [400.1, 690.2], 38.5, 1, At);

        var json = Text(SnapshotMessage.From(new DashboardSnapshot(fleet, [Raised])));

        Assert.Equal(
            """{"type":"snapshot","at":"2026-11-27T19:45:00.123+00:00","fleet":{"sensors":{"total":4,"pending":1,"online":2,"silent":1,"retired":0,"paused":0},"silentPercent":33.33,"meanHeartbeatIntervalSeconds":5.02,"recentMeanHeartbeatIntervalSeconds":null,"medianHeartbeatIntervalSeconds":4.901,"p95HeartbeatIntervalSeconds":7.337,"meanLifespanSeconds":512.4,"meanLifespanCi95":[400.1,690.2],"heartbeatsPerSecond":38.5,"openAlerts":1,"at":"2026-11-27T19:45:00.123+00:00"}}""",
            json);
    }

    [Fact]
    public void An_alerts_frame_carries_the_open_alerts_newest_first_and_how_many_are_open()
    {
        var fleet = new FleetSnapshot(new SensorCounts(4, 1, 2, 1, 0), 33.33, 5.02, null, 4.901, 7.337, 512.4, [400.1, 690.2], 38.5, 150, At);
        var older = Raised with { Id = 41, SensorId = "boiler-6" };

        var json = Text(AlertListMessage.From(new DashboardSnapshot(fleet, [Raised, older])));

        Assert.Equal(
            """{"type":"alerts","openAlerts":150,"alerts":[""" + RaisedJson + "," + RaisedJson.Replace("\"id\":42,\"sensorId\":\"boiler-7\"", "\"id\":41,\"sensorId\":\"boiler-6\"", StringComparison.Ordinal) + "]}",
            json);
    }

    [Fact]
    public void An_alert_frame_wraps_the_alert()
    {
        Assert.Equal("""{"type":"alert","alert":""" + RaisedJson + "}", Text(new AlertMessage(Raised)));
    }

    [Fact]
    public void An_alert_frame_carries_who_acknowledged_it_and_when()
    {
        var acknowledged = Raised with { AcknowledgedAt = At, AcknowledgedBy = "ops-anna" };

        Assert.Equal(
            """{"type":"alert","alert":{"id":42,"sensorId":"boiler-7","kind":"silent","silentSince":"2026-11-27T19:35:00.123+00:00","raisedAt":"2026-11-27T19:36:00.123+00:00","resolvedAt":null,"acknowledgedAt":"2026-11-27T19:45:00.123+00:00","acknowledgedBy":"ops-anna"}}""",
            Text(new AlertMessage(acknowledged)));
    }

    [Fact]
    public void A_sensor_frame_wraps_the_sensor_as_the_api_shows_it()
    {
        var sensor = new SensorSnapshot("boiler-7", ["hall"], SensorStatus.Online, At.AddDays(-1), At.AddHours(-1), At, 3, 600, null);

        Assert.Equal(
            """{"type":"sensor","sensor":{"id":"boiler-7","tags":["hall"],"status":"online","createdAt":"2026-11-26T19:45:00.123+00:00","firstHeartbeatAt":"2026-11-27T18:45:00.123+00:00","lastHeartbeatAt":"2026-11-27T19:45:00.123+00:00","heartbeatCount":3,"meanIntervalSeconds":1800,"silenceThresholdSeconds":600,"retiredReason":null,"pausedUntil":null}}""",
            Text(new SensorMessage(SensorResponse.From(sensor))));
    }

    [Fact]
    public void Error_and_pong_frames_are_as_small_as_documented()
    {
        Assert.Equal("""{"type":"error","message":"A message must be JSON."}""", Text(new ErrorMessage("A message must be JSON.")));
        Assert.Equal("""{"type":"pong"}""", Text(new PongMessage()));
    }

    private static string Text(FeedMessage message) => Encoding.UTF8.GetString(message.ToUtf8Json());
}
