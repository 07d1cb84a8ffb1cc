using System.Text.RegularExpressions;

namespace Sensors360.Grains.Sensors;

/// <summary>The public id of a sensor (and the shape of a tag): 1–64 characters of <c>A-Z a-z 0-9 . _ : -</c>.</summary>
public static partial class SensorIds
{
    public const int MaxLength = 64;

    /// <summary>The rule in words, for error messages.</summary>
    public const string Rule = "1–64 characters of A-Z a-z 0-9 . _ : -";

    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);

    [GeneratedRegex(@"^[A-Za-z0-9._:-]{1,64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
