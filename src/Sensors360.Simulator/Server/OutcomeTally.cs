using System.Collections.Concurrent;
using System.Globalization;

namespace Sensors360.Simulator.Server;

/// <summary>Counts how requests ended: each status code, and transport failures (no answer) by kind. Thread-safe.</summary>
internal sealed class OutcomeTally
{
    private readonly ConcurrentDictionary<int, long> _statusCodes = new();
    private readonly ConcurrentDictionary<string, long> _transportErrors = new(StringComparer.Ordinal);
    private long _succeeded;
    private long _failed;

    /// <summary>Answers with a 2xx status.</summary>
    public long Succeeded => Interlocked.Read(ref _succeeded);

    /// <summary>Answers with any other status, and transport failures.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    public long Completed => Succeeded + Failed;

    public long TransportErrorCount => _transportErrors.Values.Sum();

    public IReadOnlyDictionary<int, long> StatusCodes => new SortedDictionary<int, long>(_statusCodes);

    public IReadOnlyDictionary<string, long> TransportErrors => new SortedDictionary<string, long>(_transportErrors, StringComparer.Ordinal);

    public void Record(SendOutcome outcome)
    {
        if (outcome.StatusCode == 0)
        {
            _transportErrors.AddOrUpdate(outcome.TransportError ?? "Unknown", 1, (_, count) => count + 1);
        }
        else
        {
            _statusCodes.AddOrUpdate(outcome.StatusCode, 1, (_, count) => count + 1);
        }

        Interlocked.Increment(ref outcome.IsSuccess ? ref _succeeded : ref _failed);
    }

    /// <summary>The failures in short, e.g. <c>503×4 Timeout×1</c>; empty when there were none.</summary>
    public string DescribeFailures() => string.Join(' ', StatusCodes
        .Where(pair => pair.Key is < 200 or >= 300)
        .Select(pair => string.Create(CultureInfo.InvariantCulture, $"{pair.Key}×{pair.Value}"))
        .Concat(TransportErrors.Select(pair => string.Create(CultureInfo.InvariantCulture, $"{pair.Key}×{pair.Value}"))));
}
