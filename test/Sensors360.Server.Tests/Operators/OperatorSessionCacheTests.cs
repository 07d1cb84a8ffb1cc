using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Sensors360.Server.Operators;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Operators.OperatorClient;

namespace Sensors360.Server.Tests.Operators;

/// <summary>
/// Session lookups are kept for a moment, so a burst of requests costs few database reads, while logout, disabling
/// and a role change still apply at once on the silo that made them and within 5 s on every other.
/// </summary>
public sealed class OperatorSessionCacheTests(ThrowawayPostgres postgres)
{
    // The log line OperatorSessionStore writes at Debug level for every session read from the database.
    private const string SessionRead = "Operator session read from the database";

    private const int Burst = 200;

    private static readonly TimeSpan EverySilo = TimeSpan.FromSeconds(5);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_burst_of_requests_on_one_session_reads_the_session_from_the_database_a_few_times_not_once_each()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_burst_of_requests_on_one_session_reads_the_session_from_the_database_a_few_times_not_once_each));
        await using var server = ServerProcess.Start(database, "session-burst", new Dictionary<string, string?>
        {
            [$"Logging__LogLevel__{typeof(OperatorSessionStore).FullName}"] = "Debug",
        });
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();
        // A second session, ended at once: a request with it is always read from the database (an ended session is
        // never kept), so its log line marks that every read before it has been written out.
        var endedCookies = new CookieContainer();
        Cookie endedCookie;
        using (var ended = await server.LoginAsync(cookies: endedCookies))
        {
            endedCookie = Assert.Single(endedCookies.GetAllCookies());
            using var logout = await ended.PostAsync(new Uri("/api/auth/logout", UriKind.Relative), null, Cancel);
            Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        }

        var before = Reads(server);

        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < Burst)
            {
                Assert.Equal(HttpStatusCode.OK, await MeAsync(operatorClient));
            }
        }));

        using (var marker = new HttpRequestMessage(HttpMethod.Get, new Uri(server.BaseAddress, "/api/auth/me")))
        {
            marker.Headers.Add("Cookie", $"{endedCookie.Name}={endedCookie.Value}");
            using var refused = await server.Http.SendAsync(marker, Cancel);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        var after = await Eventually.MatchesAsync(() => Task.FromResult(Reads(server)), reads => reads > before, TimeSpan.FromSeconds(10), "the marker's session read is logged");
        var burstReads = after - before - 1;
        Assert.True(burstReads is >= 1 and <= Burst / 10, $"{Burst} requests read their session from the database {burstReads} times.");
    }

    [Fact]
    public async Task Logout_disabling_and_a_role_change_on_silo_A_apply_there_at_once_and_on_silo_B_within_5_seconds()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Logout_disabling_and_a_role_change_on_silo_A_apply_there_at_once_and_on_silo_B_within_5_seconds));
        await using var a = ServerProcess.Start(database, "session-cache-pair");
        await using var b = ServerProcess.Start(database, "session-cache-pair", adminPassword: a.AdminPassword);
        await Task.WhenAll(a.WaitUntilReadyAsync(), b.WaitUntilReadyAsync());
        using var admin = await a.LoginAsync();
        await CreateAsync(admin, "cache-leaver", "operator");
        await CreateAsync(admin, "cache-disabled", "operator");
        await CreateAsync(admin, "cache-demoted", "operator");
        var leaver = await SessionOnBothAsync(a, b, "cache-leaver");
        var disabled = await SessionOnBothAsync(a, b, "cache-disabled");
        var demoted = await SessionOnBothAsync(a, b, "cache-demoted");
        try
        {
            // Each session has just been used on both silos, so both have it kept.
            foreach (var session in new[] { leaver, disabled, demoted })
            {
                Assert.Equal(HttpStatusCode.OK, await MeAsync(session.OnA));
                Assert.Equal(HttpStatusCode.OK, await MeAsync(session.OnB));
            }

            // Logout on A, by a copy of the cookie: the clients keep theirs, as a stolen copy would.
            using (var logout = new HttpRequestMessage(HttpMethod.Post, new Uri(a.BaseAddress, "/api/auth/logout")))
            {
                logout.Headers.Add("Cookie", leaver.Cookie);
                logout.Headers.Add("Origin", a.Origin);
                using var loggedOut = await a.Http.SendAsync(logout, Cancel);
                Assert.Equal(HttpStatusCode.NoContent, loggedOut.StatusCode);
            }

            await AppliesAsync("logout", () => MeAsync(leaver.OnA), () => MeAsync(leaver.OnB), HttpStatusCode.Unauthorized);

            await ChangeAsync(admin, "cache-disabled", new { disabled = true });
            await AppliesAsync("disabling", () => MeAsync(disabled.OnA), () => MeAsync(disabled.OnB), HttpStatusCode.Unauthorized);

            await ChangeAsync(admin, "cache-demoted", new { role = "viewer" });
            await AppliesAsync("the role change", () => ProvisionAsync(demoted.OnA, "cache-a"), () => ProvisionAsync(demoted.OnB, "cache-b"), HttpStatusCode.Forbidden);
        }
        finally
        {
            foreach (var session in new[] { leaver, disabled, demoted })
            {
                session.OnA.Dispose();
                session.OnB.Dispose();
            }
        }
    }

    /// <summary>
    /// The change applies on A at its next request, and on B within <see cref="EverySilo"/> of the change (the clock
    /// starts when the change has answered).
    /// </summary>
    private static async Task AppliesAsync(string change, Func<Task<HttpStatusCode>> onA, Func<Task<HttpStatusCode>> onB, HttpStatusCode expected)
    {
        var clock = Stopwatch.StartNew();
        Assert.Equal(expected, await onA());
        await Eventually.TrueAsync(async () => await onB() == expected, EverySilo - clock.Elapsed, $"{change} applies on silo B");
    }

    private static async Task<HttpStatusCode> ProvisionAsync(HttpClient client, string id)
    {
        using var response = await client.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id }, Cancel);
        return response.StatusCode;
    }

    /// <summary>One login, on A, and clients that send its cookie to A and to B.</summary>
    private static async Task<Session> SessionOnBothAsync(ServerProcess a, ServerProcess b, string username)
    {
        var cookies = new CookieContainer();
        var onA = await a.LoginAsync(username, PasswordOf(username), cookies);
        var onB = new HttpClient(b.NewHandler(cookies)) { BaseAddress = b.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        onB.DefaultRequestHeaders.Add("Origin", b.Origin);
        var cookie = Assert.Single(cookies.GetAllCookies());
        return new Session(onA, onB, $"{cookie.Name}={cookie.Value}");
    }

    private static int Reads(ServerProcess server) => server.Output.Count(line => line.Contains(SessionRead, StringComparison.Ordinal));

    private sealed record Session(HttpClient OnA, HttpClient OnB, string Cookie);
}
