using System.Globalization;
using System.Numerics;
using System.Text.Json;

namespace Sensors360.Dashboard.Tests;

/// <summary>
/// The texts the page's KPI tiles show for a fleet (wwwroot/js/format.js, kpiTexts), written again in C#, so
/// tests compare the tiles with <c>GET /api/fleet</c>. Keep both in step.
/// </summary>
public static class KpiText
{
    public const string None = "—";

    public static readonly string[] Kpis =
        ["silentPercent", "meanHeartbeatIntervalSeconds", "meanLifespanSeconds", "heartbeatsPerSecond", "openAlerts", "sensors"];

    public static Dictionary<string, string> For(JsonElement fleet) => new()
    {
        ["silentPercent"] = Percent(Number(fleet, "silentPercent")),
        ["meanHeartbeatIntervalSeconds"] = Seconds(Number(fleet, "meanHeartbeatIntervalSeconds")),
        ["meanLifespanSeconds"] = Duration(Number(fleet, "meanLifespanSeconds")),
        ["heartbeatsPerSecond"] = Rate(Number(fleet, "heartbeatsPerSecond")),
        ["openAlerts"] = Count(Number(fleet, "openAlerts")),
        ["sensors"] = Count(Number(fleet.GetProperty("sensors"), "total")),
    };

    public static string Percent(double? value) => value is { } v ? $"{Fixed(v, 1)} %" : None;

    public static string Seconds(double? value) => value is { } v ? $"{Fixed(v, 2)} s" : None;

    public static string Rate(double? value) => value is { } v ? $"{Fixed(v, 1)}/s" : None;

    public static string Count(double? value) => value is { } v ? Math.Round(v, MidpointRounding.AwayFromZero).ToString(CultureInfo.InvariantCulture) : None;

    public static string Duration(double? value)
    {
        if (value is not { } v)
        {
            return None;
        }

        var total = (long)Math.Round(v, MidpointRounding.AwayFromZero);
        return total switch
        {
            < 60 => $"{total} s",
            < 3600 => $"{total / 60} min {total % 60:00} s",
            < 86400 => $"{total / 3600} h {total % 3600 / 60:00} min",
            _ => $"{total / 86400} d {total % 86400 / 3600:00} h",
        };
    }

    /// <summary>
    /// JavaScript's <c>value.toFixed(digits)</c> for a finite value ≥ 0: the exact binary value rounded to the
    /// nearest, an exact half up. (.NET's "F" format rounds exact halves differently: 0.25 gives "0.2", not "0.3".)
    /// </summary>
    public static string Fixed(double value, int digits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        var bits = BitConverter.DoubleToInt64Bits(value);
        var exponent = (int)((bits >> 52) & 0x7FF);
        var mantissa = bits & 0xF_FFFF_FFFF_FFFF;
        if (exponent == 0)
        {
            exponent = 1;
        }
        else
        {
            mantissa |= 1L << 52;
        }

        // value = mantissa × 2^(exponent - 1075), exactly.
        var shift = exponent - 1075;
        var scaled = new BigInteger(mantissa) * BigInteger.Pow(10, digits);
        BigInteger rounded;
        if (shift >= 0)
        {
            rounded = scaled << shift;
        }
        else
        {
            var denominator = BigInteger.One << -shift;
            rounded = ((2 * scaled) + denominator) / (2 * denominator);
        }

        var text = rounded.ToString(CultureInfo.InvariantCulture).PadLeft(digits + 1, '0');
        return digits == 0 ? text : $"{text[..^digits]}.{text[^digits..]}";
    }

    private static double? Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}
