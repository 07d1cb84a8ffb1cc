using System.Globalization;
using System.Text.Json;

namespace Sensors360.Simulator.History;

/// <summary>
/// The sensors of a history with their tags, so a test can provision them before importing:
/// <c>[{"id":"hist-00001","tags":["model-a","site-3"]}, …]</c>, each element the body
/// <c>POST /api/sensors</c> takes. Written as the sensors are drawn, so it needs no list of them.
/// </summary>
internal sealed class HistoryManifest : IDisposable
{
    private readonly Utf8JsonWriter _json;

    public HistoryManifest(Stream stream)
    {
        _json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        _json.WriteStartArray();
    }

    public void Add(SensorLife life)
    {
        _json.WriteStartObject();
        _json.WriteString("id", life.Id);
        _json.WriteStartArray("tags");
        _json.WriteStringValue(life.Model);
        _json.WriteStringValue(string.Create(CultureInfo.InvariantCulture, $"site-{life.Site}"));
        _json.WriteEndArray();
        _json.WriteEndObject();
    }

    public void Dispose()
    {
        _json.WriteEndArray();
        _json.Flush();
        _json.Dispose();
    }
}
