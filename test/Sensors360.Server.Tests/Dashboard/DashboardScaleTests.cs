using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Testing;
using static Sensors360.Server.Tests.Sensors.SensorClient;

namespace Sensors360.Server.Tests.Dashboard;

/// <summary>The feed across silos and under many sockets.</summary>
public sealed class DashboardScaleTests(ThrowawayPostgres postgres)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_heartbeat_sent_to_silo_A_shows_in_the_snapshot_of_a_socket_on_silo_B()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(A_heartbeat_sent_to_silo_A_shows_in_the_snapshot_of_a_socket_on_silo_B));
        await using var pair = await SiloPair.StartAsync(database, "feed-pair");
        var feedOnB = pair.FeedOnB;

        var (_, token) = await ProvisionAsync(pair.OperatorOnA, "across-1");
        await StoredHeartbeatAsync(pair.A.Http, "across-1", token);

        var snapshot = await feedOnB.WaitForAsync(
            "snapshot",
            message => message.GetProperty("fleet").GetProperty("sensors").GetProperty("online").GetInt32() == 1
                && message.GetProperty("fleet").GetProperty("heartbeatsPerSecond").GetDouble() > 0,
            Patience);
        Assert.Equal(1, snapshot.GetProperty("fleet").GetProperty("sensors").GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task An_acknowledge_made_on_silo_A_reaches_a_socket_on_silo_B_within_a_second()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(An_acknowledge_made_on_silo_A_reaches_a_socket_on_silo_B_within_a_second));
        var fastSilence = new Dictionary<string, string?>
        {
            ["Sensors360__Monitoring__SilenceThreshold"] = "00:00:02",
            ["Sensors360__Monitoring__SilenceCheckPeriod"] = "00:00:01",
        };
        await using var pair = await SiloPair.StartAsync(database, "ack-pair", fastSilence);
        var feedOnB = pair.FeedOnB;

        var (_, token) = await ProvisionAsync(pair.OperatorOnA, "ack-across-1");
        await StoredHeartbeatAsync(pair.A.Http, "ack-across-1", token);

        // The silence after the heartbeat; on a slow machine a never-reported alert, resolved by it, may come first.
        var raised = await feedOnB.WaitForAsync(
            "alert", message => IsAlertOf(message, "ack-across-1") && message.GetProperty("alert").GetProperty("kind").GetString() == "silent", Patience);
        var alertId = raised.GetProperty("alert").GetProperty("id").GetInt64();
        Assert.Equal(JsonValueKind.Null, raised.GetProperty("alert").GetProperty("acknowledgedBy").ValueKind);

        using (var acknowledge = await pair.OperatorOnA.PostAsync(new Uri($"/api/alerts/{alertId}/acknowledge", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.OK, acknowledge.StatusCode);
        }

        var acknowledged = await feedOnB.WaitForAsync(
            "alert",
            message => IsAlertOf(message, "ack-across-1") && message.GetProperty("alert").GetProperty("acknowledgedBy").ValueKind == JsonValueKind.String,
            TimeSpan.FromSeconds(1));
        var alert = acknowledged.GetProperty("alert");
        Assert.Equal(alertId, alert.GetProperty("id").GetInt64());
        Assert.Equal("admin", alert.GetProperty("acknowledgedBy").GetString());
        Assert.Equal(JsonValueKind.String, alert.GetProperty("acknowledgedAt").ValueKind);
        Assert.Equal(JsonValueKind.Null, alert.GetProperty("resolvedAt").ValueKind);

        // The alert list on B shows the acknowledgement too, without reading the database per push.
        await feedOnB.WaitForAsync(
            "alerts",
            message => message.GetProperty("alerts").EnumerateArray().Any(open =>
                open.GetProperty("id").GetInt64() == alertId && open.GetProperty("acknowledgedBy").GetString() == "admin"),
            Patience);
    }

    private static bool IsAlertOf(JsonElement message, string sensorId) =>
        message.GetProperty("alert").GetProperty("sensorId").GetString() == sensorId;

    [Fact]
    public async Task A_thousand_sockets_on_one_silo_all_receive_snapshots_and_those_left_after_half_close_keep_receiving()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_thousand_sockets_on_one_silo_all_receive_snapshots_and_those_left_after_half_close_keep_receiving));
        await using var server = ServerProcess.Start(database, "feed-many");
        await server.WaitUntilReadyAsync();
        var cookies = await server.LoginCookiesAsync();
        using var operatorClient = await server.LoginAsync(cookies: cookies);

        // A session holds at most 20 sockets, so 50 sessions; logged in from 5 loopback addresses, as the
        // login limit allows 10 a minute from one address.
        const int SocketsPerSession = 20;
        var sessions = new List<CookieContainer>();
        for (var s = 0; s < 1000 / SocketsPerSession; s++)
        {
            var jar = new CookieContainer();
            using var login = LoopbackClient.From($"127.0.4.{(s / 10) + 1}", server.BaseAddress, jar);
            using var response = await login.PostAsJsonAsync(
                new Uri("/api/auth/login", UriKind.Relative), new { username = "admin", password = server.AdminPassword }, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            sessions.Add(jar);
        }

        var clients = new List<FeedClient>();
        try
        {
            for (var i = 0; i < 1000; i++)
            {
                clients.Add(await FeedClient.ConnectAsync(server, sessions[i / SocketsPerSession]));
            }

            // Each gets the current snapshot at once, then the one after a change everyone sees.
            await Task.WhenAll(clients.Select(client => client.WaitForAsync("snapshot", _ => true, Patience)));
            await ProvisionAsync(operatorClient, "seen-by-all");
            await Task.WhenAll(clients.Select(client => client.WaitForAsync(
                "snapshot", message => message.GetProperty("fleet").GetProperty("sensors").GetProperty("total").GetInt32() == 1, Patience)));
            var fleet = await operatorClient.GetFromJsonAsync<JsonElement>(new Uri("/api/fleet", UriKind.Relative), TestContext.Current.CancellationToken);
            Assert.Equal(1, fleet.GetProperty("sensors").GetProperty("pending").GetInt32());

            // Every other socket closes (its leaving must not disturb the rest); the others see the next change.
            var closing = clients.Where((_, i) => i % 2 == 0).ToList();
            await Task.WhenAll(closing.Select(client => client.DisposeAsync().AsTask()));
            clients.RemoveAll(closing.Contains);
            await ProvisionAsync(operatorClient, "seen-by-the-rest");
            await Task.WhenAll(clients.Select(client => client.WaitForAsync(
                "snapshot", message => message.GetProperty("fleet").GetProperty("sensors").GetProperty("total").GetInt32() == 2, Patience)));
            Assert.Equal(500, clients.Count);
        }
        finally
        {
            await Task.WhenAll(clients.Select(client => client.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task A_client_that_never_reads_is_let_go_before_server_memory_grows_without_bound()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(A_client_that_never_reads_is_let_go_before_server_memory_grows_without_bound));
        await using var server = ServerProcess.Start(database, "feed-slow");
        await server.WaitUntilReadyAsync();
        var cookies = await server.LoginCookiesAsync();
        using var operatorClient = await server.LoginAsync(cookies: cookies);
        var tokens = new Dictionary<string, string>();
        for (var i = 0; i < 100; i++)
        {
            tokens[$"slow-{i}"] = (await ProvisionAsync(operatorClient, $"slow-{i}")).Token;
        }

        await using var slow = await FeedClient.ConnectStingyAsync(server, cookies);
        await slow.SendAsync("{\"type\":\"subscribe\",\"sensors\":[" + string.Join(',', tokens.Keys.Select(id => $"\"{id}\"")) + "]}");
        await using var reader = await FeedClient.ConnectAsync(server, cookies);
        await reader.SendAsync("""{"type":"subscribe","sensors":["slow-0"]}""");
        var residentBefore = ResidentBytes(server.ProcessId);

        // Every heartbeat of a subscribed sensor is a message for the slow client, which reads none of them,
        // until the server lets it go; a client that does read keeps being served meanwhile.
        var rounds = 0;
        await Eventually.TrueAsync(
            async () =>
            {
                await Task.WhenAll(tokens.Select(async pair =>
                {
                    await StoredHeartbeatAsync(server.Http, pair.Key, pair.Value);
                }));
                rounds++;
                return server.Output.Any(line => line.Contains("stopped reading", StringComparison.Ordinal));
            },
            TimeSpan.FromSeconds(120),
            "the server lets go of the client that stopped reading");

        var growth = ResidentBytes(server.ProcessId) - residentBefore;
        Assert.True(growth < 200L * 1024 * 1024, $"The server grew by {growth / (1024 * 1024)} MiB over {rounds} rounds while a client did not read.");
        var sensor = await reader.WaitForAsync("sensor", message => message.GetProperty("sensor").GetProperty("heartbeatCount").GetInt64() >= rounds, Patience);
        Assert.Equal("slow-0", sensor.GetProperty("sensor").GetProperty("id").GetString());
    }

    private static long ResidentBytes(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(line => line.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;

    /// <summary>Two silos of one cluster on one database, an operator signed in on A and a feed socket on B that got its first snapshot.</summary>
    private sealed class SiloPair : IAsyncDisposable
    {
        private SiloPair(ServerProcess a, ServerProcess b)
        {
            A = a;
            B = b;
        }

        public ServerProcess A { get; }

        public ServerProcess B { get; }

        public HttpClient OperatorOnA { get; private set; } = null!;

        public FeedClient FeedOnB { get; private set; } = null!;

        public static async Task<SiloPair> StartAsync(string database, string clusterId, IReadOnlyDictionary<string, string?>? environment = null)
        {
            var a = ServerProcess.Start(database, clusterId, environment);
            var pair = new SiloPair(a, ServerProcess.Start(database, clusterId, environment, adminPassword: a.AdminPassword));
            try
            {
                await Task.WhenAll(pair.A.WaitUntilReadyAsync(), pair.B.WaitUntilReadyAsync());
                await Eventually.MatchesAsync(pair.B.GetClusterAsync, view => view.Silos.Count == 2, Patience, "both silos in one cluster");
                pair.OperatorOnA = await pair.A.LoginAsync();
                pair.FeedOnB = await FeedClient.ConnectAsync(pair.B, await pair.B.LoginCookiesAsync());
                await pair.FeedOnB.WaitForAsync("snapshot", _ => true, Patience);
                return pair;
            }
            catch
            {
                await pair.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (FeedOnB is not null)
            {
                await FeedOnB.DisposeAsync();
            }

            OperatorOnA?.Dispose();
            await B.DisposeAsync();
            await A.DisposeAsync();
        }
    }
}
