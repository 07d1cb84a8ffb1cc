using System.Globalization;
using System.Text.RegularExpressions;

namespace Sensors360.Simulator;

/// <summary>Durations on the command line: <c>20s</c>, <c>500ms</c>, <c>5m</c>, <c>1h30m</c>, <c>2.5s</c>, plain seconds (<c>60</c>) or <c>00:01:00</c>.</summary>
internal static partial class Durations
{
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        text = text.Trim();
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            return TryFromSeconds(seconds, out duration);
        }

        var parts = Part().Matches(text);
        if (parts.Count > 0 && parts.Sum(part => part.Length) == text.Length)
        {
            var total = 0.0;
            foreach (Match part in parts)
            {
                var value = double.Parse(part.Groups["value"].Value, CultureInfo.InvariantCulture);
                total += value * part.Groups["unit"].Value switch
                {
                    "ms" => 0.001,
                    "s" => 1,
                    "m" => 60,
                    "h" => 3600,
                    _ => 86400,
                };
            }

            return TryFromSeconds(total, out duration);
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out duration) && duration >= TimeSpan.Zero;
    }

    /// <summary>A duration as the options take it: <c>20s</c>, <c>1h30m</c>, <c>1.5s</c>.</summary>
    public static string Format(TimeSpan duration)
    {
        if (duration.Ticks % TimeSpan.TicksPerSecond != 0 || duration < TimeSpan.FromSeconds(1))
        {
            return string.Create(CultureInfo.InvariantCulture, $"{duration.TotalSeconds:0.###}s");
        }

        var text = new System.Text.StringBuilder();
        foreach (var (amount, unit) in (ReadOnlySpan<(int, string)>)[((int)duration.TotalDays, "d"), (duration.Hours, "h"), (duration.Minutes, "m"), (duration.Seconds, "s")])
        {
            if (amount > 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"{amount}{unit}");
            }
        }

        return text.ToString();
    }

    private static bool TryFromSeconds(double seconds, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (!double.IsFinite(seconds) || seconds < 0 || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            return false;
        }

        duration = TimeSpan.FromSeconds(seconds);
        return true;
    }

    [GeneratedRegex(@"(?<value>\d+(\.\d+)?)(?<unit>ms|s|m|h|d)", RegexOptions.CultureInvariant)]
    private static partial Regex Part();
}
