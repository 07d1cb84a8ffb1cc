using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Operators;

/// <summary>What tests do over HTTP with operators: an admin creates and changes them, they log in.</summary>
internal static class OperatorClient
{
    /// <summary>A password the rules accept, different per user.</summary>
    public static string PasswordOf(string username) => $"{username}-long-enough-pw";

    /// <summary>Creates an operator through <c>POST /api/operators</c> as <paramref name="admin"/>.</summary>
    public static async Task CreateAsync(HttpClient admin, string username, string role, string? password = null)
    {
        using var response = await admin.PostAsJsonAsync(
            new Uri("/api/operators", UriKind.Relative), new { username, password = password ?? PasswordOf(username), role }, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"Creating {username}: {(int)response.StatusCode} {body}");
    }

    /// <summary>Creates an operator and returns a client logged in as them.</summary>
    public static async Task<HttpClient> CreateAndLoginAsync(ServerProcess server, HttpClient admin, string username, string role)
    {
        await CreateAsync(admin, username, role);
        return await server.LoginAsync(username, PasswordOf(username));
    }

    public static Task<HttpResponseMessage> PatchAsync(HttpClient admin, string username, object change) =>
        admin.PatchAsJsonAsync(new Uri($"/api/operators/{Uri.EscapeDataString(username)}", UriKind.Relative), change, TestContext.Current.CancellationToken);

    /// <summary>Changes an operator and asserts it was done.</summary>
    public static async Task ChangeAsync(HttpClient admin, string username, object change)
    {
        using var response = await PatchAsync(admin, username, change);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"Changing {username}: {(int)response.StatusCode} {body}");
    }

    /// <summary>A login attempt that may fail: the status only.</summary>
    public static async Task<HttpStatusCode> TryLoginAsync(ServerProcess server, string username, string password)
    {
        // From the page's origin, as a browser sends it: a login from elsewhere is refused before any password check.
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/auth/login", UriKind.Relative))
        {
            Content = JsonContent.Create(new { username, password }),
        };
        request.Headers.Add("Origin", server.Origin);
        using var response = await server.Http.SendAsync(request, TestContext.Current.CancellationToken);
        return response.StatusCode;
    }

    public static async Task<HttpStatusCode> MeAsync(HttpClient client)
    {
        using var response = await client.GetAsync(new Uri("/api/auth/me", UriKind.Relative), TestContext.Current.CancellationToken);
        return response.StatusCode;
    }

    public static async Task<string?> RoleAsync(HttpClient client)
    {
        var me = await client.GetFromJsonAsync<JsonElement>(new Uri("/api/auth/me", UriKind.Relative), TestContext.Current.CancellationToken);
        return me.GetProperty("role").GetString();
    }
}
