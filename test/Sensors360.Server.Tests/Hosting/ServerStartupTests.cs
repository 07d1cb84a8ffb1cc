using System.Net;
using System.Text.Json;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Hosting;

/// <summary>The server as an operator runs it: endpoints, scale-out, and what it does without a database.</summary>
public sealed class ServerStartupTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Healthz_readyz_and_cluster_answer_once_the_silo_is_active()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Healthz_readyz_and_cluster_answer_once_the_silo_is_active));
        await using var server = ServerProcess.Start(database, "health");
        await server.WaitUntilReadyAsync();

        using var healthz = await server.Http.GetAsync(new Uri("/healthz", UriKind.Relative), Cancel);
        Assert.Equal(HttpStatusCode.OK, healthz.StatusCode);

        // Anonymous: the status alone. An operator's session: each check too.
        using (var anonymous = await server.Http.GetAsync(new Uri("/readyz", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
            Assert.Equal("""{"status":"healthy"}""", await anonymous.Content.ReadAsStringAsync(Cancel));
        }

        using var session = await server.LoginAsync();
        using var readyz = await session.GetAsync(new Uri("/readyz", UriKind.Relative), Cancel);
        Assert.Equal(HttpStatusCode.OK, readyz.StatusCode);
        using var ready = JsonDocument.Parse(await readyz.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("healthy", ready.RootElement.GetProperty("status").GetString());
        Assert.Equal("healthy", ready.RootElement.GetProperty("checks").GetProperty("silo").GetProperty("status").GetString());
        Assert.Equal("healthy", ready.RootElement.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString());

        var cluster = await server.GetClusterAsync();
        var silo = Assert.Single(cluster.Silos);
        Assert.Equal($"127.0.0.1:{server.SiloPort}", silo.Address);
        Assert.Equal("active", silo.Status);
        Assert.Equal(Dns.GetHostName(), silo.HostName);
    }

    [Fact]
    public async Task Two_servers_on_one_database_form_one_cluster_and_the_survivor_sees_the_other_leave()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Two_servers_on_one_database_form_one_cluster_and_the_survivor_sees_the_other_leave));
        await using var first = ServerProcess.Start(database, "pair");
        await using var second = ServerProcess.Start(database, "pair", adminPassword: first.AdminPassword);
        await Task.WhenAll(first.WaitUntilReadyAsync(), second.WaitUntilReadyAsync());

        string[] both = [$"127.0.0.1:{first.SiloPort}", $"127.0.0.1:{second.SiloPort}"];
        foreach (var server in new[] { first, second })
        {
            var cluster = await Eventually.MatchesAsync(
                server.GetClusterAsync,
                view => view.Silos.Count == 2,
                TimeSpan.FromSeconds(30),
                $"{server.BaseAddress} lists both silos");
            Assert.Equal(both.Order(), cluster.Silos.Select(silo => silo.Address).Order());
            Assert.All(cluster.Silos, silo => Assert.Equal("active", silo.Status));
        }

        await second.StopAsync();
        Assert.Equal(0, second.ExitCode);

        var remaining = await Eventually.MatchesAsync(
            first.GetClusterAsync,
            view => view.Silos.Count == 1,
            TimeSpan.FromSeconds(30),
            "the survivor lists only itself");
        Assert.Equal($"127.0.0.1:{first.SiloPort}", remaining.Silos[0].Address);
    }

    [Fact]
    public async Task Without_a_connection_string_the_server_exits_with_one_clear_line()
    {
        await using var server = ServerProcess.Start(connectionString: null, "unconfigured");

        Assert.NotEqual(0, await server.WaitForExitAsync(ExitTimeout));
        AssertOneClearLine(server.Output, "ConnectionStrings__Postgres");
    }

    [Fact]
    public async Task With_an_unreachable_database_the_server_exits_with_one_clear_line()
    {
        var nobodyListens = $"Host=127.0.0.1;Port={FreePort.Next()};Username=postgres;Database=sensors360;Timeout=2";
        await using var server = ServerProcess.Start(nobodyListens, "unreachable", new Dictionary<string, string?>
        {
            ["Sensors360__Database__ConnectTimeout"] = "00:00:02",
        });

        Assert.NotEqual(0, await server.WaitForExitAsync(ExitTimeout));
        AssertOneClearLine(server.Output, "Cannot use the PostgreSQL database 'sensors360'");
    }

    [Fact]
    public async Task With_a_missing_database_the_server_exits_with_one_clear_line()
    {
        var missing = postgres.ConnectionStringFor("no_such_database");
        await using var server = ServerProcess.Start(missing, "missing");

        Assert.NotEqual(0, await server.WaitForExitAsync(ExitTimeout));
        AssertOneClearLine(server.Output, "'no_such_database'");
    }

    [Theory]
    [InlineData("Sensors360__Monitoring__SilenceCheckPeriod", "00:00:00.500", "SilenceCheckPeriod must be at least")]
    [InlineData("Sensors360__Notifications__KeepHistoryFor", "00:00:00", "KeepHistoryFor must be from 00:00:01")]
    // A "forever" the clock cannot subtract from now: before its bound it stopped the dispatcher, not the start.
    [InlineData("Sensors360__Notifications__KeepHistoryFor", "10675199.00:00:00", "KeepHistoryFor must be from 00:00:01")]
    [InlineData("Sensors360__Notifications__SendTimeout", "00:00:00", "SendTimeout, FirstRetry, GiveUpAfter and PollEvery must be positive")]
    // Past what a timer takes (about 49.7 days): before its bound it stopped the dispatcher after the start.
    [InlineData("Sensors360__Notifications__PollEvery", "60.00:00:00", "PollEvery at most 1.00:00:00")]
    [InlineData("Sensors360__Database__ListenerProbeEvery", "00:00:00.500", "ListenerProbeEvery must be from 00:00:01 to 01:00:00")]
    [InlineData("Sensors360__Database__ListenerProbeEvery", "60.00:00:00", "ListenerProbeEvery must be from 00:00:01 to 01:00:00")]
    public async Task An_invalid_setting_stops_the_server_with_one_clear_line(string setting, string value, string line)
    {
        var database = await postgres.CreateDatabaseAsync("invalid_setting");
        await using var server = ServerProcess.Start(database, "invalid", new Dictionary<string, string?>
        {
            [setting] = value,
        });

        Assert.NotEqual(0, await server.WaitForExitAsync(ExitTimeout));
        AssertOneClearLine(server.Output, line);
    }

    [Fact]
    public async Task Readyz_answers_503_while_the_database_is_down_and_recovers_without_a_restart()
    {
        await using var ownPostgres = await ThrowawayPostgres.StartAsync();
        var database = await ownPostgres.CreateDatabaseAsync("outage");
        await using var server = ServerProcess.Start(database, "outage");
        await server.WaitUntilReadyAsync();

        await ownPostgres.StopServerAsync();
        await Eventually.TrueAsync(
            async () => (await server.Http.GetAsync(new Uri("/readyz", UriKind.Relative), Cancel)).StatusCode == HttpStatusCode.ServiceUnavailable,
            TimeSpan.FromSeconds(30),
            "/readyz answers 503 while PostgreSQL is down");
        using (var healthz = await server.Http.GetAsync(new Uri("/healthz", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, healthz.StatusCode);
        }

        await ownPostgres.StartServerAsync();
        await server.WaitUntilReadyAsync();
        Assert.False(server.HasExited);
    }

    private static void AssertOneClearLine(IReadOnlyList<string> output, string expected)
    {
        var all = string.Join('\n', output);
        var matching = output.Where(line => line.Contains(expected, StringComparison.Ordinal)).ToList();
        Assert.True(matching.Count == 1, $"Expected exactly one line containing \"{expected}\" in:\n{all}");
        Assert.DoesNotContain(output, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.DoesNotContain(output, line => line.Contains("Unhandled exception", StringComparison.Ordinal));
    }
}
