using System.Text.RegularExpressions;

namespace Sensors360.Server.Operators;

/// <summary>The rule for operators' usernames, the same characters as sensor ids.</summary>
public static partial class OperatorNames
{
    public const string Rule = "1–64 characters of A-Z a-z 0-9 . _ : -";

    public static bool IsValid(string? username) => username is not null && Pattern().IsMatch(username);

    // \z, not $: "$" also matches before a final newline, and "admin\n" would pass.
    [GeneratedRegex(@"^[A-Za-z0-9._:-]{1,64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

/// <summary>What a new password must be.</summary>
public static class OperatorPasswords
{
    public const int MinLength = 12;

    /// <summary>Long enough for any passphrase, short enough that hashing one costs nothing unusual.</summary>
    public const int MaxLength = 256;

    public const string Rule = "12 to 256 characters, and not the username";

    /// <summary>True when <paramref name="password"/> may be set for <paramref name="username"/>.</summary>
    public static bool IsAcceptable(string? password, string username) =>
        password is { Length: >= MinLength and <= MaxLength } && !string.Equals(password, username, StringComparison.OrdinalIgnoreCase);
}
