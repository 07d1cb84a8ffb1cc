using System.Diagnostics.Metrics;

namespace Sensors360.Server.Notifications;

/// <summary>The notification instruments of the "Sensors360" meter.</summary>
public sealed class NotificationMetrics
{
    /// <summary>Counter: delivery attempts, tagged with the channel's kind and the outcome (delivered, failed, gave-up).</summary>
    public const string DeliveriesInstrument = "sensors360.notification.deliveries";

    /// <summary>The one meter of the metrics (IMeterFactory hands every caller of this name the same one).</summary>
    public const string MeterName = "Sensors360";

    private readonly Counter<long> _deliveries;

    public NotificationMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _deliveries = meter.CreateCounter<long>(DeliveriesInstrument, "{delivery}", "Notification delivery attempts by channel kind and outcome");
    }

    public void Attempted(string kind, string outcome) =>
        _deliveries.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("outcome", outcome));
}
