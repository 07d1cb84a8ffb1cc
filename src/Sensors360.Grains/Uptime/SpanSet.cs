namespace Sensors360.Grains.Uptime;

/// <summary>A stretch of time, from inclusive to exclusive.</summary>
public readonly record struct TimeSpanOf(DateTimeOffset From, DateTimeOffset To)
{
    public TimeSpan Length => To > From ? To - From : TimeSpan.Zero;
}

/// <summary>A set of instants kept as sorted, disjoint stretches; what uptime is computed with.</summary>
public sealed class SpanSet
{
    private readonly List<TimeSpanOf> _spans;

    private SpanSet(List<TimeSpanOf> spans) => _spans = spans;

    public static SpanSet Empty { get; } = new([]);

    public IReadOnlyList<TimeSpanOf> Spans => _spans;

    /// <summary>The union of <paramref name="spans"/>, in any order, overlapping or not; empty ones are dropped.</summary>
    public static SpanSet Of(IEnumerable<TimeSpanOf> spans)
    {
        var merged = new List<TimeSpanOf>();
        foreach (var span in spans.Where(span => span.To > span.From).OrderBy(span => span.From))
        {
            if (merged.Count > 0 && span.From <= merged[^1].To)
            {
                if (span.To > merged[^1].To)
                {
                    merged[^1] = merged[^1] with { To = span.To };
                }
            }
            else
            {
                merged.Add(span);
            }
        }

        return new SpanSet(merged);
    }

    public static SpanSet Of(DateTimeOffset from, DateTimeOffset to) => Of([new TimeSpanOf(from, to)]);

    public SpanSet Intersect(SpanSet other)
    {
        var result = new List<TimeSpanOf>();
        int i = 0, j = 0;
        while (i < _spans.Count && j < other._spans.Count)
        {
            var from = Max(_spans[i].From, other._spans[j].From);
            var to = Min(_spans[i].To, other._spans[j].To);
            if (to > from)
            {
                result.Add(new TimeSpanOf(from, to));
            }

            if (_spans[i].To < other._spans[j].To)
            {
                i++;
            }
            else
            {
                j++;
            }
        }

        return new SpanSet(result);
    }

    public SpanSet Except(SpanSet other)
    {
        var result = new List<TimeSpanOf>();
        var j = 0;
        foreach (var span in _spans)
        {
            var from = span.From;
            while (j < other._spans.Count && other._spans[j].To <= from)
            {
                j++;
            }

            var k = j;
            while (k < other._spans.Count && other._spans[k].From < span.To)
            {
                if (other._spans[k].From > from)
                {
                    result.Add(new TimeSpanOf(from, other._spans[k].From));
                }

                from = Max(from, other._spans[k].To);
                k++;
            }

            if (span.To > from)
            {
                result.Add(new TimeSpanOf(from, span.To));
            }
        }

        return new SpanSet(result);
    }

    /// <summary>How much of the set lies in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public TimeSpan LengthWithin(DateTimeOffset from, DateTimeOffset to)
    {
        var total = TimeSpan.Zero;
        foreach (var span in _spans)
        {
            if (span.From >= to)
            {
                break;
            }

            total += new TimeSpanOf(Max(span.From, from), Min(span.To, to)).Length;
        }

        return total;
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
