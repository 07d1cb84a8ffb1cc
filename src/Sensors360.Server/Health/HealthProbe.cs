namespace Sensors360.Server.Health;

/// <summary>
/// <c>Sensors360.Server healthcheck [url]</c>: asks the running server's <c>/readyz</c> and exits 0 when it answers
/// 200, else 1. The container image's HEALTHCHECK runs it, since the runtime image has no curl or wget.
/// </summary>
public static class HealthProbe
{
    /// <summary>Where a container's server listens by default (the aspnet image sets ASPNETCORE_HTTP_PORTS=8080).</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080/readyz";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(IReadOnlyList<string> arguments)
    {
        var target = arguments.Count > 0 ? arguments[0] : DefaultUrl;
        if (!Uri.TryCreate(target, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            await Console.Error.WriteLineAsync($"healthcheck: '{target}' is not an http(s) URL, e.g. {DefaultUrl}");
            return 2;
        }

        using var client = new HttpClient { Timeout = Timeout };
        try
        {
            using var response = await client.GetAsync(url);
            Console.WriteLine($"healthcheck: {url} answered {(int)response.StatusCode}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Console.WriteLine($"healthcheck: {url} did not answer: {e.Message}");
            return 1;
        }
    }
}
