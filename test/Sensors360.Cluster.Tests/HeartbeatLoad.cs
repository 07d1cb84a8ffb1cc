using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;
using Sensors360.Testing;

namespace Sensors360.Cluster.Tests;

/// <summary>A provisioned sensor: its id and the token it authenticates with.</summary>
internal sealed record LoadSensor(string Id, string Token);

/// <summary>
/// One answer (or none) to one heartbeat: <paramref name="Status"/> is 0 when no HTTP answer came (connection
/// refused, reset, timed out). <paramref name="FromSilo"/>: the answer carried a silo's problem body, not the balancer's.
/// </summary>
internal readonly record struct HeartbeatOutcome(int Sensor, DateTimeOffset SentAt, DateTimeOffset AnsweredAt, int Status, bool FromSilo)
{
    public bool Acknowledged => Status == 204;
}

/// <summary>
/// Sensors sending heartbeats at a steady rate, as real ones do: each sensor one request at a time, every
/// <c>period</c>, spread evenly over the period. Every outcome is recorded with when it was sent and answered;
/// nothing is retried, so every refusal and every lost connection shows.
/// </summary>
internal sealed class HeartbeatLoad : IAsyncDisposable
{
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(1);

    private readonly HttpClient _client;
    private readonly IReadOnlyList<LoadSensor> _sensors;
    private readonly ConcurrentQueue<HeartbeatOutcome> _outcomes = new();
    private readonly CancellationTokenSource[] _stops;

    // Each sensor's sends numbered in its `sent` metric, so a heartbeat stored twice shows as a repeated number.
    private readonly int[] _sent;
    private readonly Task[] _loops;

    private HeartbeatLoad(Uri target, IReadOnlyList<LoadSensor> sensors, TimeSpan period)
    {
        _sensors = sensors;
        // Idle connections are dropped before the balancer's keep-alive timeout (15 s) could close one under a request.
        _client = new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(5) })
        {
            BaseAddress = target,
            // Longer than the balancer's server timeout: a slow answer is the balancer's or a silo's, never this client's.
            Timeout = TimeSpan.FromSeconds(60),
        };
        _stops = [.. sensors.Select(_ => new CancellationTokenSource())];
        _sent = new int[sensors.Count];
        var start = TimeProvider.System.GetUtcNow();
        _loops = [.. sensors.Select((_, index) => Task.Run(() => SendAsync(index, start + period * index / sensors.Count, period)))];
    }

    public IReadOnlyList<LoadSensor> Sensors => _sensors;

    /// <summary>Every outcome so far.</summary>
    public IReadOnlyList<HeartbeatOutcome> Outcomes => [.. _outcomes];

    /// <summary>Provisions <paramref name="count"/> sensors through <paramref name="operatorClient"/>, named <paramref name="prefix"/>N.</summary>
    public static async Task<IReadOnlyList<LoadSensor>> ProvisionAsync(HttpClient operatorClient, string prefix, int count)
    {
        var sensors = new LoadSensor[count];
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, cancellationToken) =>
        {
            var id = $"{prefix}{i}";
            using var response = await operatorClient.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), new { id }, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, $"Provisioning {id}: {(int)response.StatusCode} {body}");
            using var sensor = JsonDocument.Parse(body);
            sensors[i] = new LoadSensor(id, sensor.RootElement.GetProperty("token").GetString()!);
        });
        return sensors;
    }

    public static HeartbeatLoad Start(Uri target, IReadOnlyList<LoadSensor> sensors, TimeSpan period) => new(target, sensors, period);

    /// <summary>The sensor sends nothing more; a request of it under way is still answered and recorded.</summary>
    public void Stop(int sensor) => _stops[sensor].Cancel();

    /// <summary>Stops every sensor and waits for the answers under way.</summary>
    public async Task StopAsync()
    {
        foreach (var stop in _stops)
        {
            await stop.CancelAsync();
        }

        await Task.WhenAll(_loops);
    }

    /// <summary>Waits until every sensor's heartbeats, from <paramref name="since"/> on, got at least one 204.</summary>
    public Task WaitUntilEverySensorAcknowledgedAsync(DateTimeOffset since, TimeSpan timeout) =>
        WaitUntilAcknowledgedAsync([.. Enumerable.Range(0, _sensors.Count)], since, timeout);

    /// <summary>Waits until each of <paramref name="sensors"/> got a 204 for a heartbeat sent at or after <paramref name="since"/>.</summary>
    public Task WaitUntilAcknowledgedAsync(IReadOnlyCollection<int> sensors, DateTimeOffset since, TimeSpan timeout) => Eventually.TrueAsync(
        () => Task.FromResult(sensors.Except(_outcomes.Where(outcome => outcome.Acknowledged && outcome.SentAt >= since).Select(outcome => outcome.Sensor)).Any() is false),
        timeout,
        $"{sensors.Count} sensors acknowledged");

    /// <summary>
    /// The 204-answered heartbeats the heartbeat table does not hold: for each, a row of its sensor must have been
    /// received between the request's sending and its answer. A sensor sends one request at a time, so these
    /// windows never overlap and no row can count for two.
    /// </summary>
    public async Task<IReadOnlyList<HeartbeatOutcome>> FindUnstoredAcknowledgementsAsync(string database)
    {
        var received = _sensors.ToDictionary(sensor => sensor.Id, _ => new List<DateTimeOffset>(), StringComparer.Ordinal);
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "SELECT s.name, h.received_at FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = ANY ($1)", connection);
            command.Parameters.AddWithValue(_sensors.Select(sensor => sensor.Id).ToArray());
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                received[reader.GetString(0)].Add(reader.GetFieldValue<DateTimeOffset>(1));
            }
        }

        foreach (var times in received.Values)
        {
            times.Sort();
        }

        return [.. _outcomes.Where(outcome => outcome.Acknowledged && !Holds(received[_sensors[outcome.Sensor].Id], outcome))];
    }

    /// <summary>
    /// Heartbeats of these sensors stored more than once: rows beyond the first with the same sensor and send number
    /// (a send the server stored, lost the answer of, and stored again when asked a second time).
    /// </summary>
    public async Task<long> CountStoredTwiceAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            SELECT count(*) - count(DISTINCT (h.sensor_id, h.metrics ->> 'sent'))
            FROM heartbeat h JOIN sensor s ON s.id = h.sensor_id WHERE s.name = ANY ($1)
            """, connection);
        command.Parameters.AddWithValue(_sensors.Select(sensor => sensor.Id).ToArray());
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static bool Holds(List<DateTimeOffset> times, HeartbeatOutcome outcome)
    {
        // The first stored time at or after the sending (the server cuts times to microseconds; a millisecond of slack).
        var index = times.BinarySearch(outcome.SentAt - Slack);
        index = index < 0 ? ~index : index;
        return index < times.Count && times[index] <= outcome.AnsweredAt + Slack;
    }

    private async Task SendAsync(int sensor, DateTimeOffset first, TimeSpan period)
    {
        var stop = _stops[sensor].Token;
        var due = first;
        while (!stop.IsCancellationRequested)
        {
            var wait = due - TimeProvider.System.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            // A slow answer delays this sensor's next heartbeat; it never sends two at once or a burst after.
            due = Max(due + period, TimeProvider.System.GetUtcNow());
            _outcomes.Enqueue(await SendOneAsync(sensor));
        }
    }

    private async Task<HeartbeatOutcome> SendOneAsync(int sensor)
    {
        var target = _sensors[sensor];
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/api/sensors/{target.Id}/heartbeat", UriKind.Relative));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", target.Token);
        // One loop per sensor sends, so its counter needs no lock.
        request.Content = new StringContent(
            string.Create(CultureInfo.InvariantCulture, $"{{\"metrics\":{{\"sent\":{++_sent[sensor]}}}}}"), Encoding.UTF8, "application/json");
        var sentAt = TimeProvider.System.GetUtcNow();
        try
        {
            using var response = await _client.SendAsync(request, CancellationToken.None);
            var fromSilo = response.Content.Headers.ContentType?.MediaType == "application/problem+json";
            // Read to the end, so the connection goes back to the pool.
            await response.Content.ReadAsByteArrayAsync();
            return new HeartbeatOutcome(sensor, sentAt, TimeProvider.System.GetUtcNow(), (int)response.StatusCode, fromSilo);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return new HeartbeatOutcome(sensor, sentAt, TimeProvider.System.GetUtcNow(), 0, FromSilo: false);
        }
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        foreach (var stop in _stops)
        {
            stop.Dispose();
        }

        _client.Dispose();
    }
}

/// <summary>What a run of heartbeats came to, for messages.</summary>
internal static class OutcomeSummary
{
    public static string Describe(IEnumerable<HeartbeatOutcome> outcomes) =>
        string.Join(", ", outcomes.GroupBy(outcome => outcome.Status == 0 ? "no answer" : outcome.Status.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .OrderBy(group => group.Key, StringComparer.Ordinal)
            .Select(group => $"{group.Key}: {group.Count()}"));
}
