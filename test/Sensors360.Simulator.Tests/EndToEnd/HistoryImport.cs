using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Simulator.History;

namespace Sensors360.Simulator.Tests.EndToEnd;

/// <summary>Writes a simulated history, provisions its sensors with one tag and imports it through the API, as an operator migrating would.</summary>
internal static class HistoryImport
{
    /// <summary>How long an import or a training of these histories may take on a busy 2-core machine.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);

    /// <summary>Imports the history <paramref name="options"/> describe; returns its truth rows (<c>HistoryTruthCsv</c> columns).</summary>
    public static async Task<IReadOnlyList<string[]>> ImportAsync(HttpClient admin, HistoryOptions options, string tag)
    {
        HistoryGeneration.WriteFiles(options);
        var rows = File.ReadLines(options.TruthFile).Skip(1).Select(line => line.Split(',')).ToList();
        await Parallel.ForEachAsync(rows, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (row, cancellationToken) =>
        {
            using var provisioned = await admin.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id = row[0], tags = new[] { tag } }, cancellationToken);
            Assert.Equal(HttpStatusCode.Created, provisioned.StatusCode);
        });

        await using var history = File.OpenRead(options.HistoryFile);
        using var content = new StreamContent(history);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        using var imported = await admin.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), content, TestContext.Current.CancellationToken);
        var body = await imported.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(imported.StatusCode == HttpStatusCode.OK, body.ToString());
        Assert.Equal(0, body.GetProperty("rejected").GetInt64());
        Assert.Equal(rows.Sum(row => long.Parse(row[9], CultureInfo.InvariantCulture)), body.GetProperty("imported").GetInt64());
        return rows;
    }
}
