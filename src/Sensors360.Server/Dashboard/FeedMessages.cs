using System.Text.Json;
using System.Text.Json.Serialization;
using Sensors360.Abstractions.Alerts;
using Sensors360.Abstractions.Dashboard;
using Sensors360.Server.Sensors;

namespace Sensors360.Server.Dashboard;

/// <summary>
/// A frame the server sends on <c>/ws/dashboard</c> (docs/websocket.md), one record per frame type.
/// The frame's <c>type</c> is the discriminator below, which System.Text.Json writes first; the
/// fields follow in camelCase.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(SnapshotMessage), "snapshot")]
[JsonDerivedType(typeof(AlertListMessage), "alerts")]
[JsonDerivedType(typeof(AlertMessage), "alert")]
[JsonDerivedType(typeof(SensorMessage), "sensor")]
[JsonDerivedType(typeof(ErrorMessage), "error")]
[JsonDerivedType(typeof(PongMessage), "pong")]
internal abstract record FeedMessage
{
    private static readonly JsonSerializerOptions Json = JsonSerializerOptions.Web;

    /// <summary>The frame's text. Serialized as the base type on purpose: only then is <c>type</c> written.</summary>
    public byte[] ToUtf8Json() => JsonSerializer.SerializeToUtf8Bytes(this, Json);
}

/// <summary>The fleet aggregate; <paramref name="At"/> repeats the fleet's own time.</summary>
internal sealed record SnapshotMessage(DateTimeOffset At, FleetSnapshot Fleet) : FeedMessage
{
    public static SnapshotMessage From(DashboardSnapshot snapshot) => new(snapshot.Fleet.At, snapshot.Fleet);
}

/// <summary>
/// The newest open alerts (newest first, at most 100) and how many are open in all: sent apart from the snapshot,
/// and only when they changed, since with many open alerts the list is forty times the size of the fleet.
/// </summary>
internal sealed record AlertListMessage(int OpenAlerts, IReadOnlyList<Alert> Alerts) : FeedMessage
{
    public static AlertListMessage From(DashboardSnapshot snapshot) => new(snapshot.Fleet.OpenAlerts, snapshot.Alerts);
}

/// <summary>An alert raised, resolved or acknowledged, as it now stands.</summary>
internal sealed record AlertMessage(Alert Alert) : FeedMessage;

/// <summary>A subscribed sensor after a heartbeat or state change, as <c>GET /api/sensors/{id}</c> shows it.</summary>
internal sealed record SensorMessage(SensorResponse Sensor) : FeedMessage;

/// <summary>The answer to a client message the server could not take.</summary>
internal sealed record ErrorMessage(string Message) : FeedMessage;

/// <summary>The answer to a client's <c>ping</c>.</summary>
internal sealed record PongMessage : FeedMessage;
