using System.Text;
using System.Text.RegularExpressions;

namespace Sensors360.Server.Tests.Deploy;

/// <summary>
/// The rules of a <c>.dockerignore</c> as Docker applies them: paths relative to the context, <c>*</c> and <c>?</c>
/// within one path segment, <c>**</c> across segments, <c>!</c> to take a path back in, the last matching rule wins,
/// and a rule that matches a directory excludes everything in it.
/// </summary>
internal sealed class DockerIgnore
{
    private readonly List<(Regex Pattern, bool Excludes)> _rules = [];

    public DockerIgnore(string text)
    {
        foreach (var raw in text.ReplaceLineEndings("\n").Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var excludes = !line.StartsWith('!');
            var pattern = (excludes ? line : line[1..]).Trim().Trim('/');
            _rules.Add((ToRegex(pattern), excludes));
        }
    }

    /// <summary>Whether <paramref name="path"/> (relative to the context, '/' separated) is left out of the context.</summary>
    public bool Excludes(string path)
    {
        var candidates = Ancestors(path.Trim('/')).ToList();
        var excluded = false;
        foreach (var (pattern, excludes) in _rules)
        {
            if (candidates.Any(pattern.IsMatch))
            {
                excluded = excludes;
            }
        }

        return excluded;
    }

    private static IEnumerable<string> Ancestors(string path)
    {
        var segments = path.Split('/');
        for (var i = 1; i <= segments.Length; i++)
        {
            yield return string.Join('/', segments[..i]);
        }
    }

    private static Regex ToRegex(string pattern)
    {
        var regex = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                var slashAfter = i + 2 < pattern.Length && pattern[i + 2] == '/';
                regex.Append(slashAfter ? "(?:.*/)?" : ".*");
                i += slashAfter ? 2 : 1;
            }
            else
            {
                regex.Append(pattern[i] switch
                {
                    '*' => "[^/]*",
                    '?' => "[^/]",
                    var other => Regex.Escape(other.ToString()),
                });
            }
        }

        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
