using System.Text;
using Sensors360.Simulator.Server;
using Sensors360.Simulator.Truth;

namespace Sensors360.Simulator.History;

/// <summary>
/// The <c>history</c> command: plays the <see cref="HistoryModel"/> one sensor at a time and streams its
/// heartbeats, its truth row and its manifest entry out before the next, so memory stays flat however
/// large the fleet and however long the history. Lines come in per-sensor order; the import takes any order.
/// </summary>
internal static class HistoryGeneration
{
    private const int FileBuffer = 1 << 16;

    /// <summary>Writes the files <paramref name="options"/> names.</summary>
    public static HistorySummary WriteFiles(HistoryOptions options)
    {
        options.Validate();
        try
        {
            using var history = Create(options.HistoryFile);
            using var truth = new StreamWriter(Create(options.TruthFile), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            using var manifest = options.ManifestFile is { } path ? Create(path) : null;
            return Write(options, history, truth, manifest);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SimulatorException($"Could not write the history: {e.Message}", e);
        }
    }

    /// <summary>Writes the heartbeats to <paramref name="history"/>, the truth to <paramref name="truth"/> and, if given, the manifest.</summary>
    public static HistorySummary Write(HistoryOptions options, Stream history, TextWriter truth, Stream? manifest)
    {
        var model = new HistoryModel(options);
        int failed = 0, announced = 0, decommissioned = 0, alive = 0, flaky = 0;
        long heartbeats, bytes;
        using (var lines = new NdjsonHeartbeatWriter(history, options.Metrics))
        using (var sensors = manifest is null ? null : new HistoryManifest(manifest))
        {
            HistoryTruthCsv.WriteHeader(truth);
            for (var i = 0; i < options.Sensors; i++)
            {
                var life = model.Draw();
                model.Play(life, lines);
                HistoryTruthCsv.WriteRow(truth, life);
                sensors?.Add(life);
                switch (life.Cause)
                {
                    case HistoryCause.Failed:
                        failed++;
                        announced += life.Announced ? 1 : 0;
                        break;
                    case HistoryCause.Decommissioned:
                        decommissioned++;
                        break;
                    default:
                        alive++;
                        break;
                }

                flaky += life.Flaky ? 1 : 0;
            }

            heartbeats = lines.Lines;
            bytes = lines.Bytes;
        }

        history.Flush();
        truth.Flush();
        manifest?.Flush();
        return new HistorySummary(options.Seed, options.End, options.Sensors, failed, announced, decommissioned, alive, flaky, heartbeats, bytes);
    }

    private static FileStream Create(string path)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory)
        {
            Directory.CreateDirectory(directory);
        }

        return new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, FileBuffer);
    }
}
