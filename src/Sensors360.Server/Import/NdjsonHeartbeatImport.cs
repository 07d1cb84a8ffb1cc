using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Sensors360.Abstractions.Sensors;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Sensors;

namespace Sensors360.Server.Import;

/// <summary>
/// One NDJSON import, from the request body to committed batches. Lines are parsed as they arrive and
/// collected into a batch of at most <see cref="BatchSize"/>; a full batch is resolved to sensors and
/// written (<see cref="HeartbeatImport"/>) while the next one is parsed, and the one after waits for that
/// write. So memory holds at most two batches whatever the size of the body, and the client is slowed by
/// TCP back-pressure when the database falls behind.
/// </summary>
public sealed partial class NdjsonHeartbeatImport(
    HeartbeatImport store, IGrainFactory grains, TimeProvider clock, ILogger<NdjsonHeartbeatImport> logger)
{
    /// <summary>Lines per transaction: large enough that a commit costs little per line, small enough to keep memory flat.</summary>
    public const int BatchSize = 10_000;

    /// <summary>A longer line is refused, and skipped without being held in memory.</summary>
    public const int MaxLineBytes = 64 * 1024;

    /// <summary>Refused lines listed in the answer; all are counted.</summary>
    public const int MaxErrors = 100;

    // Sensors looked up by name, kept for the whole import; cleared if an import names this many (memory stays bounded).
    private const int MaxKnownSensors = 100_000;

    private static readonly JsonDocumentOptions LineOptions = new() { MaxDepth = 4 };

    private readonly List<Line> _batch = new(BatchSize);
    // Two row lists: one being written while the next batch is parsed into the other.
    private List<PastHeartbeat> _rows = new(BatchSize);
    private List<PastHeartbeat> _writingRows = new(BatchSize);
    private Task? _writing;
    private readonly Dictionary<string, ImportTarget?> _known = new(StringComparer.Ordinal);
    // Sensors whose history changed: their grains hear of it at the end. Bounded by the fleet, not the body.
    private readonly HashSet<string> _changed = new(StringComparer.Ordinal);
    private readonly List<ImportError> _errors = [];
    private HeartbeatImport.Session? _session;
    private long _lineNumber;

    public long Imported { get; private set; }

    public long Duplicates { get; private set; }

    public long Rejected { get; private set; }

    /// <summary>The last line whose fate is settled (stored, duplicate or rejected).</summary>
    public long CommittedThroughLine { get; private set; }

    public ImportResponse Result() => new(Imported, Duplicates, Rejected, _errors);

    /// <summary>Reads the body to its end, writing each full batch before reading on.</summary>
    public async Task RunAsync(PipeReader body, CancellationToken cancellationToken)
    {
        try
        {
            var skipping = false; // Inside a line already refused as too long: discard up to its newline.
            while (true)
            {
                var read = await body.ReadAsync(cancellationToken);
                var buffer = read.Buffer;
                while (_batch.Count < BatchSize && buffer.PositionOf((byte)'\n') is { } newline)
                {
                    var line = buffer.Slice(0, newline);
                    buffer = buffer.Slice(buffer.GetPosition(1, newline));
                    _lineNumber++;
                    if (skipping)
                    {
                        skipping = false;
                        RefuseTooLong();
                    }
                    else
                    {
                        Parse(line);
                    }
                }

                if (_batch.Count < BatchSize)
                {
                    if (read.IsCompleted)
                    {
                        // The last line need not end with a newline.
                        if (skipping || buffer.Length > 0)
                        {
                            _lineNumber++;
                            if (skipping)
                            {
                                RefuseTooLong();
                            }
                            else
                            {
                                Parse(buffer);
                            }
                        }

                        body.AdvanceTo(buffer.End);
                        break;
                    }

                    if (skipping || buffer.Length > MaxLineBytes)
                    {
                        // No newline within the limit: refuse the line now, drop what arrived of it, and keep dropping.
                        skipping = true;
                        buffer = buffer.Slice(buffer.End);
                    }
                }

                if (_batch.Count >= BatchSize)
                {
                    // Full lines may be left in the buffer: examined only up to here, so the next read returns them at once.
                    body.AdvanceTo(buffer.Start);
                    await FlushAsync(cancellationToken);
                }
                else
                {
                    body.AdvanceTo(buffer.Start, buffer.End);
                }
            }

            await FlushAsync(cancellationToken);
            await FinishWriteAsync();
        }
        finally
        {
            if (_writing is { IsCompleted: false } writing)
            {
                // Failed or cancelled while a batch was on its way: let it end before its connection is closed.
                await writing.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }

            await body.CompleteAsync();
            if (_session is not null)
            {
                await _session.DisposeAsync();
            }
        }
    }

    /// <summary>Tells every sensor whose history changed, so active grains reload and silences are judged again.</summary>
    public async Task NotifySensorsAsync()
    {
        await Parallel.ForEachAsync(
            _changed,
            new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (sensor, _) =>
            {
                try
                {
                    await grains.GetGrain<ISensorGrain>(sensor).HistoryImported();
                }
                catch (Exception e) when (e is OrleansException or TimeoutException or SiloUnavailableException)
                {
                    // The history is stored; the grain judges it at its next activation or reminder.
                    LogNotifyFailed(logger, sensor, e.Message);
                }
            });
    }

    private void Parse(ReadOnlySequence<byte> text)
    {
        if (text.Length > MaxLineBytes)
        {
            RefuseTooLong();
            return;
        }

        if (IsBlank(text))
        {
            // A blank line (e.g. the end of the file) is no heartbeat and no error.
            return;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text, LineOptions);
        }
        catch (JsonException e)
        {
            _batch.Add(Line.Refused(_lineNumber, $"Not valid JSON: {e.Message}"));
            return;
        }

        using (document)
        {
            _batch.Add(HeartbeatBody.TryParsePast(document.RootElement, withSensor: true, clock.GetUtcNow(), out var sensor, out var at, out var metrics, out var error)
                ? new Line(_lineNumber, sensor, HeartbeatTimes.ToStoredPrecision(at), metrics, null)
                : Line.Refused(_lineNumber, error));
        }
    }

    /// <summary>
    /// Resolves the batch's sensors, refuses what cannot be stored and starts writing the rest in one
    /// transaction. The write runs while the next batch is read and parsed (the database's work and ours
    /// overlap on the two cores); the previous write is awaited first, since the connection does one thing at a time.
    /// </summary>
    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_batch.Count == 0)
        {
            return;
        }

        await FinishWriteAsync();
        _session ??= await store.OpenAsync(cancellationToken);
        if (_known.Count > MaxKnownSensors)
        {
            _known.Clear();
        }

        await _session.LookUpAsync(_batch.Where(line => line.Error is null).Select(line => line.Sensor!), _known, cancellationToken);
        foreach (var line in _batch)
        {
            if (line.Error is not null)
            {
                Reject(line.Number, line.Error);
            }
            else if (_known[line.Sensor!] is not { } target)
            {
                Reject(line.Number, $"No sensor '{line.Sensor}'.");
            }
            else if (target.RetiredAt is { } retiredAt && line.At > retiredAt)
            {
                // History up to the retirement is the sensor's life; after it there was no sensor to beat.
                Reject(line.Number, $"Sensor '{line.Sensor}' was retired at {retiredAt:O}, before this heartbeat.");
            }
            else
            {
                _rows.Add(new PastHeartbeat(target.Id, line.At, line.MetricsJson));
            }
        }

        (_rows, _writingRows) = (_writingRows, _rows);
        _writing = WriteAsync(_session, _writingRows, _batch[^1].Number, cancellationToken);
        _batch.Clear();
    }

    private async Task WriteAsync(HeartbeatImport.Session session, List<PastHeartbeat> rows, long lastLine, CancellationToken cancellationToken)
    {
        var written = await session.WriteAsync(rows, cancellationToken);
        Imported += written.Imported;
        Duplicates += written.Duplicates;
        _changed.UnionWith(written.ImportedBySensor.Keys);
        CommittedThroughLine = lastLine;
        rows.Clear();
    }

    /// <summary>Waits for the batch being written, if any; its failure surfaces here.</summary>
    private async Task FinishWriteAsync()
    {
        if (_writing is { } writing)
        {
            _writing = null;
            await writing;
        }
    }

    // Refusals wait in the batch with the other lines, so the answer lists errors in line order.
    private void RefuseTooLong() => _batch.Add(Line.Refused(_lineNumber, $"The line is longer than {MaxLineBytes} bytes."));

    private void Reject(long line, string error)
    {
        Rejected++;
        if (_errors.Count < MaxErrors)
        {
            _errors.Add(new ImportError(line, error));
        }
    }

    private static bool IsBlank(ReadOnlySequence<byte> text)
    {
        foreach (var segment in text)
        {
            foreach (var b in segment.Span)
            {
                if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r'))
                {
                    return false;
                }
            }
        }

        return true;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sensor {Sensor}: could not tell its grain of imported heartbeats: {Reason}")]
    private static partial void LogNotifyFailed(ILogger logger, string sensor, string reason);

    /// <summary>A parsed line waiting for its batch: a heartbeat to resolve, or the reason it is refused.</summary>
    private readonly record struct Line(long Number, string? Sensor, DateTimeOffset At, string? MetricsJson, string? Error)
    {
        public static Line Refused(long number, string error) => new(number, null, default, null, error);
    }
}
