using System.Net;
using Npgsql;
using Sensors360.Grains.Sensors;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Database;

/// <summary>
/// <c>Sensors360__Database__MaxConnections</c>: however busy, the process holds no more connections to PostgreSQL
/// than that, over all its pools; a setting that cannot be kept stops the server at start.
/// </summary>
public sealed class ConnectionBudgetTests(ThrowawayPostgres postgres)
{
    private const int Budget = 10;
    private const int Sensors = 1_000;
    private const int Senders = 200;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Under_a_burst_of_first_heartbeats_and_reads_the_server_holds_no_more_connections_than_its_budget()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(Under_a_burst_of_first_heartbeats_and_reads_the_server_holds_no_more_connections_than_its_budget));
        // The server's connections carry a name of their own, so the database can count them apart from the test's.
        const string Application = "budget-probe";
        var serverConnection = new NpgsqlConnectionStringBuilder(database) { ApplicationName = Application }.ConnectionString;
        await using var server = ServerProcess.Start(serverConnection, "budget", new Dictionary<string, string?>
        {
            ["Sensors360__Database__MaxConnections"] = $"{Budget}",
        });
        await server.WaitUntilReadyAsync();
        // The test's connection strings set Maximum Pool Size=30, which the budget overrides.
        Assert.Contains(server.Output, line => line.Contains($"Connection budget: at most {Budget} connections to PostgreSQL, 2 for Orleans, 1 for the readiness check and 7 for the server", StringComparison.Ordinal));
        Assert.Contains(server.Output, line => line.Contains("Maximum Pool Size=30, which is ignored", StringComparison.Ordinal));

        var token = SensorTokens.NewToken();
        await Sql.ScalarAsync(database, "INSERT INTO sensor (name, token_hash) SELECT 'budget-' || g, $1 FROM generate_series(1, $2) AS g", SensorTokens.Hash(token), Sensors);
        using var operatorClient = await server.LoginAsync();

        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var peak = SamplePeakAsync(database, Application, sampling.Token);
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        using var sensorClient = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Senders }) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        var next = 0;
        // Each first heartbeat activates its sensor's grain (a read) and registers its reminder (Orleans' pool); the
        // reads of the sensor list go through the server's pool beside them.
        await Task.WhenAll(Enumerable.Range(0, Senders).Select(async sender =>
        {
            int item;
            while ((item = Interlocked.Increment(ref next)) <= Sensors)
            {
                using var beat = await SensorHeartbeats.SendAsync(sensorClient, $"budget-{item}", token, cancellationToken: Cancel);
                statuses.AddOrUpdate($"heartbeat {(int)beat.StatusCode}", 1, (_, n) => n + 1);
                if (sender % 4 == 0)
                {
                    using var list = await operatorClient.GetAsync(new Uri("/api/sensors?limit=10", UriKind.Relative), Cancel);
                    statuses.AddOrUpdate($"list {(int)list.StatusCode}", 1, (_, n) => n + 1);
                }
            }
        }));
        await sampling.CancelAsync();
        var observed = await peak;

        var tally = string.Join(", ", statuses.OrderBy(pair => pair.Key).Select(pair => $"{pair.Key}: {pair.Value}"));
        Assert.True(statuses.Keys.All(key => key is "heartbeat 204" or "list 200"), tally);
        Assert.Equal(Sensors, statuses["heartbeat 204"]);
        Assert.True(observed <= Budget, $"The server held {observed} connections at once; its budget is {Budget}.");
        // The burst did press on the budget: an idle server of this budget was seen to hold 6 or 7, the burst all 10.
        Assert.True(observed >= Budget - 1, $"The server held at most {observed} connections: the burst never filled the pools.");
    }

    [Fact]
    public async Task While_every_connection_of_the_servers_pool_waits_on_a_lock_readyz_still_answers_200_and_the_requests_then_succeed()
    {
        var database = await postgres.CreateDatabaseAsync(nameof(While_every_connection_of_the_servers_pool_waits_on_a_lock_readyz_still_answers_200_and_the_requests_then_succeed));
        const string Application = "budget-busy";
        await using var server = ServerProcess.Start(
            // Requests beyond the pool wait for a connection for as long as the pool is held below.
            new NpgsqlConnectionStringBuilder(database) { ApplicationName = Application, Timeout = 30 }.ConnectionString,
            "budget-busy",
            new Dictionary<string, string?>
            {
                ["Sensors360__Database__MaxConnections"] = $"{Budget}",
                ["Sensors360__Database__ListenerProbeEvery"] = "00:00:01",
            });
        await server.WaitUntilReadyAsync();
        using var operatorClient = await server.LoginAsync();
        await using var overhearing = await ProbeOverhearing.StartAsync(server, database, TimeSpan.FromSeconds(10));
        var seen = server.Output.Count;

        // Every read of the sensor table waits while this transaction holds it, each on a connection of the pool.
        await using var holder = new NpgsqlConnection(database);
        await holder.OpenAsync(Cancel);
        await using var holding = await holder.BeginTransactionAsync(Cancel);
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE sensor IN ACCESS EXCLUSIVE MODE", holder, holding))
        {
            await lockTable.ExecuteNonQueryAsync(Cancel);
        }

        // More requests than the server's pool has connections (Budget - 2 for Orleans - 1 for the readiness check - 1
        // for the change listener's own).
        const int ServerPool = Budget - 4;
        var lists = Enumerable.Range(0, ServerPool + 4).Select(async _ =>
        {
            using var list = await operatorClient.GetAsync(new Uri("/api/sensors", UriKind.Relative), Cancel);
            return list.StatusCode;
        }).ToList();
        // All of the pool (no heartbeat has opened the writers' connections yet).
        await Eventually.TrueAsync(
            async () => await Sql.ScalarAsync(database, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", Application) == ServerPool,
            TimeSpan.FromSeconds(10),
            "every connection of the server's pool waits on the lock");

        using (var ready = await server.Http.GetAsync(new Uri("/readyz", UriKind.Relative), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        // For three periods the change listener's probe gets no connection, so at most one already under way is
        // heard; that says nothing of the listening connection, so the listen goes on.
        Assert.InRange(await overhearing.CountOverAsync(TimeSpan.FromSeconds(3)), 0, 1);

        // The waiting requests wait for a connection, not fail: once the lock goes, all are answered.
        await holding.RollbackAsync(Cancel);
        Assert.All(await Task.WhenAll(lists), status => Assert.Equal(HttpStatusCode.OK, status));
        await overhearing.HeardAsync(2, TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(server.Output.Skip(seen), line => line.Contains("Not listening", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Sensors360__Database__MaxConnections", "5", "MaxConnections must be at least 10")]
    [InlineData("Sensors360__Database__MaxConnections", "many", "MaxConnections")]
    [InlineData("ConnectionStrings__Postgres", "{database};Pooling=false", "Pooling=false")]
    public async Task A_budget_that_cannot_be_kept_stops_the_server_with_one_clear_line(string variable, string value, string named)
    {
        var database = await postgres.CreateDatabaseAsync($"budget-invalid-{named}");
        await using var server = ServerProcess.Start(database, "budget-invalid", new Dictionary<string, string?> { [variable] = value.Replace("{database}", database, StringComparison.Ordinal) });

        Assert.Equal(1, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Single(server.Output, line => line.Contains("Invalid setting", StringComparison.Ordinal) && line.Contains(named, StringComparison.Ordinal));
        Assert.DoesNotContain(server.Output, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    /// <summary>The most connections the application held at once, sampled until cancelled.</summary>
    private static async Task<long> SamplePeakAsync(string database, string application, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(CancellationToken.None);
        await using var count = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", connection);
        count.Parameters.AddWithValue(application);
        long peak = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            // pg_stat_activity is a snapshot per transaction; each autocommitted query sees the current one.
            peak = Math.Max(peak, (long)(await count.ExecuteScalarAsync(CancellationToken.None))!);
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(10), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return peak;
    }
}
