using System.Buffers;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Sensors360.Server.Sensors;

/// <summary>
/// The optional heartbeat body <c>{"metrics":{"battery":0.82}}</c>: at most 16 numeric values named by
/// 1–32 characters of <c>A-Z a-z 0-9 _</c>. Parsed strictly, then re-serialized, so what is stored is
/// exactly the validated metrics and nothing else.
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

            if (metrics is not { ValueKind: not JsonValueKind.Null } values)
            {
                return true;
            }

            return TryNormalize(values, out metricsJson, out error);
        }
    }

    private static bool TryNormalize(JsonElement metrics, out string? metricsJson, out string error)
    {
        metricsJson = null;
        error = "";
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

    [GeneratedRegex("^[A-Za-z0-9_]{1,32}$", RegexOptions.CultureInvariant)]
    private static partial Regex MetricName();
}
