using System.Globalization;
using System.Text.RegularExpressions;

namespace Sensors360.Server.Http;

/// <summary>
/// Points in time that clients send (a retirement's <c>at</c>, imported heartbeats): ISO 8601 with an
/// explicit offset, since a time without one means a different instant on every machine.
/// </summary>
public static partial class Instants
{
    /// <summary>How far ahead of the server's clock a client's time may be and still count as "not in the future".</summary>
    public static readonly TimeSpan AllowedClockSkew = TimeSpan.FromSeconds(5);

    public const string Rule = "an ISO 8601 date and time with an offset, e.g. 2026-11-27T19:45:00Z or 2026-11-27T20:45:00+01:00, in the years 0002 to 9998";

    public static bool TryParse(string? text, out DateTimeOffset instant)
    {
        instant = default;
        // Not in the first or last year .NET can hold: their ends are no times at all to PostgreSQL (Npgsql sends them as
        // -infinity and infinity), and rounding a time down to its bucket or month would reach them.
        return text is not null
            && WithOffset().IsMatch(text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out instant)
            && instant.UtcDateTime.Year is > 1 and < 9999;
    }

    /// <summary>Whether <paramref name="instant"/> lies beyond <paramref name="now"/> by more than the allowed skew.</summary>
    public static bool IsInFuture(DateTimeOffset instant, DateTimeOffset now) => instant > now + AllowedClockSkew;

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})\z", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex WithOffset();
}
