using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Sensors360.Simulator.Commands;

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

    /// <summary>An option whose value is a duration; <paramref name="description"/> should state the default.</summary>
    public static Option<TimeSpan?> Option(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "duration",
        CustomParser = Parse,
    };

    private static TimeSpan? Parse(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (TryParse(text, out var duration))
        {
            return duration;
        }

        result.AddError($"'{text}' is not a duration: use e.g. 20s, 500ms, 5m, 1h30m or 00:01:00.");
        return null;
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
