using System.Buffers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Http;

namespace Sensors360.Server.Sensors;

/// <summary>
/// The optional heartbeat body <c>{"metrics":{"battery":0.82}}</c>: at most 16 numeric values named by
/// 1–32 characters of <c>A-Z a-z 0-9 _</c>. Parsed strictly, then re-serialized, so what is stored is
/// exactly the validated metrics and nothing else. The same rules hold for heartbeats from the past
/// (an import line, a sensor's buffered heartbeats): <see cref="TryParsePast"/>.
/// </summary>
public static partial class HeartbeatBody
{
    public const int MaxBytes = 4096;
    public const int MaxMetrics = 16;

    /// <summary>The metric name rule in words, for error messages.</summary>
    public const string MetricNameRule = "1–32 characters of A-Z a-z 0-9 _";

    /// <summary>Whether <paramref name="name"/> may name a metric; history queries ask by the same rule heartbeats are held to.</summary>
    public static bool IsMetricName(string? name) => name is not null && MetricName().IsMatch(name);

    /// <summary>Parses a non-empty body; returns false with a reason fit for a 400 detail.</summary>
    public static bool TryParse(ReadOnlySpan<byte> body, out string? metricsJson, out string error)
    {
        metricsJson = null;
        error = "";
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 4 });
        }
        catch (JsonException e)
        {
            error = $"The body is not valid JSON: {e.Message}";
            return false;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "The body must be a JSON object like {\"metrics\":{\"battery\":0.82}}.";
                return false;
            }

            JsonElement? metrics = null;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name != "metrics")
                {
                    error = $"Unknown field '{property.Name}': the body may only hold \"metrics\".";
                    return false;
                }

                metrics = property.Value;
            }

            return metrics is not { } values || TryParseMetrics(values, out metricsJson, out error);
        }
    }

    /// <summary>
    /// The metrics rule, for every way a heartbeat arrives (a live body, an import line, a buffered batch):
    /// null or an object of at most <see cref="MaxMetrics"/> uniquely named finite numbers. Gives the
    /// normalized JSON to store (null when there are none), or a reason fit for a 400 detail.
    /// </summary>
    public static bool TryParseMetrics(JsonElement metrics, out string? metricsJson, out string error)
    {
        metricsJson = null;
        error = "";
        if (metrics.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (metrics.ValueKind != JsonValueKind.Object)
        {
            error = "\"metrics\" must be an object of named numbers.";
            return false;
        }

        var buffer = new ArrayBufferWriter<byte>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var metric in metrics.EnumerateObject())
            {
                if (!MetricName().IsMatch(metric.Name))
                {
                    error = $"Metric name '{metric.Name}' must be {MetricNameRule}.";
                    return false;
                }

                if (!names.Add(metric.Name))
                {
                    error = $"Metric '{metric.Name}' appears twice.";
                    return false;
                }

                if (names.Count > MaxMetrics)
                {
                    error = $"At most {MaxMetrics} metrics are allowed.";
                    return false;
                }

                if (metric.Value.ValueKind != JsonValueKind.Number || !metric.Value.TryGetDouble(out var value) || !double.IsFinite(value))
                {
                    error = $"Metric '{metric.Name}' must be a finite number.";
                    return false;
                }

                writer.WriteNumber(metric.Name, value);
            }

            writer.WriteEndObject();
        }

        metricsJson = names.Count == 0 ? null : System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
        return true;
    }

    /// <summary>
    /// One heartbeat from the past, an object of <c>at</c> (required, <see cref="Instants.Rule"/>, not in the
    /// future beyond <see cref="Instants.AllowedClockSkew"/>), optional <c>metrics</c> and, where
    /// <paramref name="withSensor"/> (an import line), the required <c>sensor</c>. The same rules for an
    /// import line and an item of a sensor's buffered heartbeats; <paramref name="at"/> is as sent.
    /// </summary>
    public static bool TryParsePast(
        JsonElement item, bool withSensor, DateTimeOffset now,
        out string? sensor, out DateTimeOffset at, out string? metricsJson, out string error)
    {
        sensor = null;
        at = default;
        metricsJson = null;
        error = "";
        if (item.ValueKind != JsonValueKind.Object)
        {
            error = withSensor
                ? "A line must be an object like {\"sensor\":\"boiler-7\",\"at\":\"2026-11-27T19:45:00Z\"}."
                : "A heartbeat must be an object like {\"at\":\"2026-11-27T19:45:00Z\"}.";
            return false;
        }

        string? atText = null;
        var sawAt = false;
        foreach (var property in item.EnumerateObject())
        {
            switch (property.Name)
            {
                case "sensor" when withSensor:
                    sensor = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : null;
                    if (!SensorIds.IsValid(sensor))
                    {
                        error = $"\"sensor\" must be a sensor id: {SensorIds.Rule}.";
                        return false;
                    }

                    break;
                case "at":
                    sawAt = true;
                    atText = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : null;
                    break;
                case "metrics":
                    if (!TryParseMetrics(property.Value, out metricsJson, out error))
                    {
                        return false;
                    }

                    break;
                default:
                    error = $"Unknown field '{property.Name}': {(withSensor ? "a line holds \"sensor\", \"at\" and \"metrics\"" : "a heartbeat holds \"at\" and \"metrics\"")}.";
                    return false;
            }
        }

        if (withSensor && sensor is null)
        {
            error = "\"sensor\" is missing.";
            return false;
        }

        if (!sawAt)
        {
            error = "\"at\" is missing.";
            return false;
        }

        if (!Instants.TryParse(atText, out at))
        {
            error = $"\"at\" must be {Instants.Rule}.";
            return false;
        }

        if (Instants.IsInFuture(at, now))
        {
            error = $"\"at\" ({atText}) is in the future.";
            return false;
        }

        return true;
    }

    [GeneratedRegex(@"^[A-Za-z0-9_]{1,32}\z", RegexOptions.CultureInvariant)]
    private static partial Regex MetricName();
}
