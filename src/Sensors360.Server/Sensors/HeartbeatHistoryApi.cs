using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Http;
using Sensors360.Server.Operators;
using static Sensors360.Server.Http.HttpProblems;

namespace Sensors360.Server.Sensors;

/// <summary>
/// A sensor's past for operators: its heartbeats page by page (newest first), and a series in equal buckets
/// over a time range, of one metric or of the heartbeats themselves, for charts and the timeline's gaps.
/// </summary>
public static class HeartbeatHistoryApi
{
    public const int DefaultPoints = 200;
    public const int MaxPoints = 1000;
    public static readonly TimeSpan DefaultRange = TimeSpan.FromHours(24);

    public static IEndpointRouteBuilder MapHeartbeatHistory(this IEndpointRouteBuilder app)
    {
        // Operators only: the fallback policy requires a session, as for every route that does not opt out.
        var sensor = app.MapGroup("/api/sensors/{id}");
        sensor.MapGet("/heartbeats", ListAsync).RequireAuthorization(OperatorPolicies.Viewer);
        sensor.MapGet("/series", SeriesAsync).RequireAuthorization(OperatorPolicies.Viewer);
        return app;
    }

    internal static async Task<Results<Ok<HeartbeatPageResponse>, ProblemHttpResult>> ListAsync(
        string id, HeartbeatHistory history, CancellationToken cancellationToken,
        string? from = null, string? to = null, string? limit = null, string? cursor = null)
    {
        if (!SensorIds.IsValid(id))
        {
            return InvalidId();
        }

        if (!TryParseRange(from, to, out var start, out var end, out var invalidRange))
        {
            return invalidRange!;
        }

        if (!Paging.TryParseLimit(limit, out var pageSize, out var invalidLimit))
        {
            return invalidLimit!;
        }

        DateTimeOffset? before = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            if (!TryDecodeCursor(cursor, out var last))
            {
                return Problem(400, "Invalid cursor", "cursor must be a next value returned by this endpoint");
            }

            before = last;
        }

        // One row more than asked says whether another page follows, without counting.
        var rows = await history.ListAsync(id, start, end, before, pageSize + 1, cancellationToken);
        if (rows is null)
        {
            return NotFound(id);
        }

        var items = rows.Take(pageSize).Select(row => new HeartbeatItem(row.At, ParseMetrics(row.MetricsJson))).ToList();
        var next = rows.Count > pageSize ? EncodeCursor(items[^1].At) : null;
        return TypedResults.Ok(new HeartbeatPageResponse(items, next));
    }

    internal static async Task<Results<Ok<SeriesResponse>, ProblemHttpResult>> SeriesAsync(
        string id, HeartbeatHistory history, [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock, CancellationToken cancellationToken,
        string? metric = null, string? from = null, string? to = null, string? points = null)
    {
        if (!SensorIds.IsValid(id))
        {
            return InvalidId();
        }

        if (metric is not null && !HeartbeatBody.IsMetricName(metric))
        {
            return Problem(400, "Invalid metric", $"metric must be {HeartbeatBody.MetricNameRule}, or absent for the heartbeat counts");
        }

        if (!TryParseRange(from, to, out var start, out var end, out var invalidRange))
        {
            return invalidRange!;
        }

        var wanted = DefaultPoints;
        if (!string.IsNullOrEmpty(points)
            && !(int.TryParse(points, NumberStyles.None, CultureInfo.InvariantCulture, out wanted) && wanted is >= 1 and <= MaxPoints))
        {
            return Problem(400, "Invalid points", $"points must be a whole number from 1 to {MaxPoints}");
        }

        // A missing end is now, a missing start one default range before the end.
        var rangeEnd = end ?? clock.GetUtcNow();
        // (Near the calendar's start there is no day before `to`; the range then starts where the calendar does.)
        var rangeStart = start ?? (rangeEnd.UtcTicks - DateTimeOffset.MinValue.UtcTicks >= DefaultRange.Ticks ? rangeEnd - DefaultRange : DateTimeOffset.MinValue);
        if (rangeStart >= rangeEnd)
        {
            return Problem(400, "Empty range", "from must be before to: a series needs a range of some length");
        }

        // Whole seconds per bucket (at least one), so bucket starts are readable and the count never exceeds `points`.
        var rangeTicks = (rangeEnd - rangeStart).Ticks;
        var bucketSeconds = Math.Max(1, CeilDiv(rangeTicks, wanted * TimeSpan.TicksPerSecond));
        var buckets = (int)CeilDiv(rangeTicks, bucketSeconds * TimeSpan.TicksPerSecond);

        var series = await history.SeriesAsync(id, metric, rangeStart, rangeEnd, bucketSeconds, buckets, cancellationToken);
        if (series is null)
        {
            return NotFound(id);
        }

        return TypedResults.Ok(new SeriesResponse(
            metric, rangeStart, rangeEnd, bucketSeconds, series.Select(b => new SeriesPoint(b.At, b.Count, b.Min, b.Max, b.Mean)).ToList()));
    }

    /// <summary>Optional <c>from</c> and <c>to</c>, each with an offset, <c>from</c> not after <c>to</c>.</summary>
    private static bool TryParseRange(string? from, string? to, out DateTimeOffset? start, out DateTimeOffset? end, out ProblemHttpResult? problem)
    {
        start = null;
        end = null;
        problem = null;
        if (!string.IsNullOrEmpty(from))
        {
            if (!Instants.TryParse(from, out var parsed))
            {
                problem = Problem(400, "Invalid from", $"from must be {Instants.Rule}");
                return false;
            }

            start = parsed;
        }

        if (!string.IsNullOrEmpty(to))
        {
            if (!Instants.TryParse(to, out var parsed))
            {
                problem = Problem(400, "Invalid to", $"to must be {Instants.Rule}");
                return false;
            }

            end = parsed;
        }

        if (start > end)
        {
            problem = Problem(400, "Invalid range", "from may not be after to");
            return false;
        }

        return true;
    }

    private static long CeilDiv(long dividend, long divisor) => (dividend + divisor - 1) / divisor;

    // Stored metrics were validated as a JSON object when they came in; they are handed back as that object.
    private static JsonElement? ParseMetrics(string? json)
    {
        if (json is null)
        {
            return null;
        }

        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static ProblemHttpResult InvalidId() => Problem(400, "Invalid sensor id", $"id must be {SensorIds.Rule}");

    private static ProblemHttpResult NotFound(string id) => Problem(404, "Sensor not found", $"No sensor has id '{id}'.");

    // The cursor is the last item's time, opaque to clients like the sensors list's: Base64Url of its round-trip text.
    private static string EncodeCursor(DateTimeOffset lastAt) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(lastAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)));

    private static bool TryDecodeCursor(string cursor, out DateTimeOffset lastAt)
    {
        lastAt = default;
        string text;
        try
        {
            text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
        }
        catch (FormatException)
        {
            return false;
        }

        return DateTimeOffset.TryParseExact(text, "O", CultureInfo.InvariantCulture, DateTimeStyles.None, out lastAt);
    }
}

/// <summary>One heartbeat: when it was received and its metrics as stored (null when it carried none).</summary>
public sealed record HeartbeatItem(DateTimeOffset At, JsonElement? Metrics);

/// <summary>One page of heartbeats, newest first; pass <c>next</c> as <c>cursor</c> for the next page (null at the end).</summary>
public sealed record HeartbeatPageResponse(IReadOnlyList<HeartbeatItem> Items, string? Next);

/// <summary>One bucket of a series (docs/api.md).</summary>
public sealed record SeriesPoint(DateTimeOffset At, long Count, double? Min, double? Max, double? Mean);

/// <summary>A series in equal buckets over [from, to); <c>metric</c> is null for the heartbeat counts.</summary>
public sealed record SeriesResponse(string? Metric, DateTimeOffset From, DateTimeOffset To, long BucketSeconds, IReadOnlyList<SeriesPoint> Points);
