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

/// <summary>The fleet aggregate and the open alerts; <paramref name="At"/> repeats the fleet's own time.</summary>
internal sealed record SnapshotMessage(DateTimeOffset At, FleetSnapshot Fleet, IReadOnlyList<Alert> Alerts) : FeedMessage
{
    public static SnapshotMessage From(DashboardSnapshot snapshot) => new(snapshot.Fleet.At, snapshot.Fleet, snapshot.Alerts);
}

/// <summary>An alert raised, resolved or acknowledged, as it now stands.</summary>
internal sealed record AlertMessage(Alert Alert) : FeedMessage;

/// <summary>A subscribed sensor after a heartbeat or state change, as <c>GET /api/sensors/{id}</c> shows it.</summary>
internal sealed record SensorMessage(SensorResponse Sensor) : FeedMessage;

/// <summary>The answer to a client message the server could not take.</summary>
internal sealed record ErrorMessage(string Message) : FeedMessage;

/// <summary>The answer to a client's <c>ping</c>.</summary>
internal sealed record PongMessage : FeedMessage;
