namespace Sensors360.Server.Http;

/// <summary>
/// The rule for free text a client gives that is stored and shown (a reason, a channel's name, a mail user name or
/// url): no control characters. PostgreSQL's text and jsonb cannot hold U+0000 at all, and the others have no place
/// in a one-line field (a newline in a name would forge lines in logs and emails).
/// </summary>
public static class StoredText
{
    public const string Rule = "without control characters";

    public static bool IsValid(string? text) => text is null || !text.Any(char.IsControl);

    /// <summary>
    /// <paramref name="text"/> cut to at most <paramref name="maxLength"/> characters, never through the middle of one:
    /// a lone half of a surrogate pair is no UTF-8, and PostgreSQL refuses it.
    /// </summary>
    public static string Cut(string text, int maxLength) =>
        text.Length <= maxLength ? text : text[..(char.IsHighSurrogate(text[maxLength - 1]) ? maxLength - 1 : maxLength)];
}
