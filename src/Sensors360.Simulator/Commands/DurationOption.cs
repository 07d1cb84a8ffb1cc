using System.CommandLine;
using System.CommandLine.Parsing;

namespace Sensors360.Simulator.Commands;

/// <summary>Options whose value is a duration as <see cref="Durations"/> reads it.</summary>
internal static class DurationOption
{
    /// <summary>An option whose value is a duration; <paramref name="description"/> should state the default.</summary>
    public static Option<TimeSpan?> Create(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "duration",
        CustomParser = Parse,
    };

    private static TimeSpan? Parse(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (Durations.TryParse(text, out var duration))
        {
            return duration;
        }

        result.AddError($"'{text}' is not a duration: use e.g. 20s, 500ms, 5m, 1h30m or 00:01:00.");
        return null;
    }
}
