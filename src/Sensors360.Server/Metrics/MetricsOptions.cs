namespace Sensors360.Server.Metrics;

/// <summary>Settings under <c>Sensors360:Metrics</c>: who besides loopback callers may scrape <c>/metrics</c>.</summary>
public sealed class MetricsOptions
{
    public const string Section = "Sensors360:Metrics";

    /// <summary>Short tokens could be guessed; 32 random bytes in base64 are 44 characters.</summary>
    public const int MinTokenLength = 16;

    /// <summary>
    /// The bearer token a scraper that is not on loopback must send (<c>Authorization: Bearer &lt;token&gt;</c>).
    /// Empty (the default): only loopback callers may scrape.
    /// </summary>
    public string? Token { get; set; }

    public bool HasToken => !string.IsNullOrEmpty(Token);

    /// <summary>The problem with the token, or null when it is unset or usable.</summary>
    public string? FirstInvalid() =>
        !HasToken || (Token!.Length >= MinTokenLength && !Token.Any(char.IsWhiteSpace))
            ? null
            : $"{Section}:Token must be at least {MinTokenLength} characters without spaces (e.g. `openssl rand -base64 32`), or empty for loopback-only scraping.";
}
