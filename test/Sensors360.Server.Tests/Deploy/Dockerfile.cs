using System.Text.Json;

namespace Sensors360.Server.Tests.Deploy;

/// <summary>The instructions of a Dockerfile: continuation lines joined, comments dropped, with the stage each is in.</summary>
internal sealed class Dockerfile
{
    public Dockerfile(string text)
    {
        var stage = -1;
        var pending = "";
        foreach (var raw in text.ReplaceLineEndings("\n").Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith('#') || (line.Length == 0 && pending.Length == 0))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }

            var whole = (pending + line).Trim();
            pending = "";
            if (whole.Length == 0)
            {
                continue;
            }

            var space = whole.IndexOf(' ', StringComparison.Ordinal);
            var keyword = (space < 0 ? whole : whole[..space]).ToUpperInvariant();
            if (keyword == "FROM")
            {
                stage++;
            }

            Instructions.Add(new Instruction(keyword, space < 0 ? "" : whole[(space + 1)..].Trim(), stage));
        }
    }

    public List<Instruction> Instructions { get; } = [];

    public int LastStage => Instructions.Max(instruction => instruction.Stage);

    /// <summary>The instructions of the final stage (the image that runs).</summary>
    public IEnumerable<Instruction> Final => Instructions.Where(instruction => instruction.Stage == LastStage);

    public sealed record Instruction(string Keyword, string Arguments, int Stage)
    {
        /// <summary>The words of a shell-form instruction, or the items of an exec-form (JSON array) one; options (--x) removed.</summary>
        public IReadOnlyList<string> Words => Arguments.StartsWith('[')
            ? JsonSerializer.Deserialize<string[]>(Arguments)!
            : [.. Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(word => !word.StartsWith("--", StringComparison.Ordinal))];

        public bool HasOption(string prefix) => Arguments.Split(' ').Any(word => word.StartsWith(prefix, StringComparison.Ordinal));
    }
}
