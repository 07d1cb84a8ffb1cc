using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using Sensors360.Grains.Sensors;
using Sensors360.Server.Dashboard;
using Sensors360.Server.Tests.Dashboard;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Database;

/// <summary>
/// The connection budget as an operator meets it: three silos with their default budget on a PostgreSQL with its
/// default <c>max_connections</c> (100), hit at once by a thousand dashboards opening and a heartbeat storm.
/// </summary>
public sealed class ConnectionStormTests
{
    private const int Silos = 3;
    private const int Sockets = 1_000;
    private const int Sensors = 6_000;
    private const int HeartbeatsPerSensor = 10;

    // Heartbeat requests in flight at once per silo. With pools of 100 each (what the server had before the budget), this
    // many first heartbeats (each activation reads its sensor) and reminders opened more connections than PostgreSQL
    // allows; within the budget they wait their turn. Yet few enough for a 2-core machine to answer within the patience.
    private const int SendersPerSilo = 128;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Three_silos_on_a_default_PostgreSQL_take_a_thousand_sockets_and_60_000_heartbeats_at_once_without_a_5xx()
    {
        await using var postgres = await ThrowawayPostgres.StartAsync(maxConnections: 100);
        var database = await postgres.CreateDatabaseAsync("storm");
        var first = ServerProcess.Start(database, "storm");
        ServerProcess[] silos = [first, .. Enumerable.Range(1, Silos - 1).Select(_ => ServerProcess.Start(database, "storm", adminPassword: first.AdminPassword))];
        var clients = new ConcurrentBag<FeedClient>();
        try
        {
            await Task.WhenAll(silos.Select(silo => silo.WaitUntilReadyAsync()));
            await Eventually.MatchesAsync(first.GetClusterAsync, view => view.Silos.Count(silo => silo.Status == "active") == Silos, Patience, "three active silos");

            // Provisioned directly in the table (as an import of a fleet would): the storm is about heartbeats, not provisioning.
            var token = SensorTokens.NewToken();
            Assert.Equal(Sensors, await Sql.ScalarAsync(database,
                "WITH made AS (INSERT INTO sensor (name, token_hash) SELECT 'storm-' || g, $1 FROM generate_series(1, $2) AS g RETURNING 1) SELECT count(*) FROM made",
                SensorTokens.Hash(token), Sensors));

            var sessions = await LoginSessionsAsync(first);
            var heartbeatStatuses = new ConcurrentDictionary<int, int>();
            var socketFailures = new ConcurrentQueue<string>();
            var snapshots = 0;
            var clock = Stopwatch.StartNew();

            // All at once: every socket opens while the heartbeats pour in.
            var opening = Task.WhenAll(Enumerable.Range(0, Sockets).Select(async i =>
            {
                var silo = silos[i % Silos];
                try
                {
                    var client = await FeedClient.ConnectAsync(silo, sessions[i / Silos / FeedSessions.MaxSocketsPerSession]);
                    clients.Add(client);
                    await client.WaitForAsync("snapshot", _ => true, Patience);
                    Interlocked.Increment(ref snapshots);
                }
                catch (Exception e) when (e is WebSocketException or TimeoutException or InvalidOperationException or OperationCanceledException)
                {
                    socketFailures.Enqueue($"socket {i} on silo {i % Silos}: {e.Message}");
                }
            }));
            var storm = StormAsync(silos, token, heartbeatStatuses);
            await Task.WhenAll(opening, storm);
            var elapsed = clock.Elapsed;

            var tally = string.Join(", ", heartbeatStatuses.OrderBy(pair => pair.Key).Select(pair => $"{pair.Key}: {pair.Value}"));
            Assert.True(socketFailures.IsEmpty, $"{socketFailures.Count} sockets got no snapshot, e.g. {string.Join("; ", socketFailures.Take(5))}");
            Assert.Equal(Sockets, snapshots);
            // A 5xx names its cause: the exception handler logs what it caught (one line each, the console being single-line).
            var failures = silos.SelectMany(silo => silo.Output.Where(line => line.Contains(" fail: ", StringComparison.Ordinal)
                || line.Contains(" crit: ", StringComparison.Ordinal)).Take(5)).ToList();
            Assert.True(heartbeatStatuses.Keys.All(status => status < 500), $"Heartbeat answers: {tally}; the silos logged: {string.Join('\n', failures)}");
            Assert.True(heartbeatStatuses.GetValueOrDefault(204) == Sensors * HeartbeatsPerSensor, $"Heartbeat answers: {tally}");
            Assert.Equal(Sensors * HeartbeatsPerSensor, await Sql.ScalarAsync(database, "SELECT count(*) FROM heartbeat"));
            foreach (var silo in silos)
            {
                var refused = silo.Output.Where(line => line.Contains("53300", StringComparison.Ordinal)
                    || line.Contains("too many clients", StringComparison.OrdinalIgnoreCase)).ToList();
                Assert.True(refused.Count == 0, $"PostgreSQL refused connections of {silo.BaseAddress}: {string.Join('\n', refused.Take(5))}");
            }

            TestContext.Current.SendDiagnosticMessage($"Storm of {Sockets} sockets and {Sensors * HeartbeatsPerSensor} heartbeats took {elapsed.TotalSeconds:0.0} s: {tally}");
        }
        finally
        {
            await Task.WhenAll(clients.Select(client => client.DisposeAsync().AsTask()));
            await Task.WhenAll(silos.Select(silo => silo.DisposeAsync().AsTask()));
        }
    }

    /// <summary>
    /// Enough sessions for the sockets: a session holds at most <see cref="FeedSessions.MaxSocketsPerSession"/> on each
    /// silo, and each session is used on every silo. Logged in from several loopback addresses, as the login limit
    /// allows 10 a minute from one.
    /// </summary>
    private static async Task<List<CookieContainer>> LoginSessionsAsync(ServerProcess server)
    {
        var count = (Sockets + (Silos * FeedSessions.MaxSocketsPerSession) - 1) / (Silos * FeedSessions.MaxSocketsPerSession);
        var sessions = new List<CookieContainer>();
        for (var s = 0; s < count; s++)
        {
            var jar = new CookieContainer();
            using var login = LoopbackClient.From($"127.0.7.{(s / 10) + 1}", server.BaseAddress, jar);
            using var response = await login.PostAsJsonAsync(
                new Uri("/api/auth/login", UriKind.Relative), new { username = "admin", password = server.AdminPassword }, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            sessions.Add(jar);
        }

        return sessions;
    }

    /// <summary>
    /// Every sensor's heartbeats, round after round, each round's heartbeat of a sensor to the next silo; a sensor is
    /// never sent two at once (its next comes a whole round later), as a real one would not.
    /// </summary>
    private static async Task StormAsync(ServerProcess[] silos, string token, ConcurrentDictionary<int, int> statuses)
    {
        var clients = silos.Select(silo => new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = SendersPerSilo })
        {
            BaseAddress = silo.BaseAddress,
            Timeout = Patience,
        }).ToArray();
        try
        {
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, Silos * SendersPerSilo).Select(async _ =>
            {
                int item;
                while ((item = Interlocked.Increment(ref next)) < Sensors * HeartbeatsPerSensor)
                {
                    var (round, sensor) = Math.DivRem(item, Sensors);
                    int status;
                    try
                    {
                        using var response = await SensorHeartbeats.SendAsync(
                            clients[(sensor + round) % Silos], $"storm-{sensor + 1}", token, cancellationToken: TestContext.Current.CancellationToken);
                        status = (int)response.StatusCode;
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        // No answer at all counts as the worst answer.
                        status = 599;
                    }

                    statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                }
            }));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }
}
