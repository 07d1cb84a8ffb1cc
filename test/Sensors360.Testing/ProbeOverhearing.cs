using System.Diagnostics;
using System.Text.RegularExpressions;
using Npgsql;

namespace Sensors360.Testing;

/// <summary>
/// A connection of the test's own that listens on a server's change-listener probe channel (named in the server's
/// "probing on" log line), so a test can tell that the server's probes are sent and delivered.
/// </summary>
public sealed partial class ProbeOverhearing : IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private int _heard;

    private ProbeOverhearing(NpgsqlConnection connection, string channel)
    {
        _connection = connection;
        Channel = channel;
        // Raised on the thread that waits, inside WaitAsync.
        _connection.Notification += (_, _) => _heard++;
    }

    public string Channel { get; }

    public static async Task<ProbeOverhearing> StartAsync(ServerProcess server, string connectionString, TimeSpan timeout)
    {
        await server.LoggedAsync("probing on ", "the server logs its probe channel", timeout);
        var channel = server.Output.Select(line => ProbeChannel().Match(line)).Last(match => match.Success).Groups[1].Value;
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync();
            await using var listen = new NpgsqlCommand($"LISTEN {channel}", connection);
            await listen.ExecuteNonQueryAsync();
            return new ProbeOverhearing(connection, channel);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Returns once <paramref name="count"/> more probes have been heard; fails when one takes longer than <paramref name="timeout"/>.</summary>
    public async Task HeardAsync(int count, TimeSpan timeout)
    {
        var until = _heard + count;
        while (_heard < until)
        {
            if (!await _connection.WaitAsync(timeout))
            {
                throw new TimeoutException($"No probe on {Channel} within {timeout.TotalSeconds:0.#} s; {count - (until - _heard)} of {count} heard.");
            }
        }
    }

    /// <summary>Takes in the probes already delivered, then counts those heard over <paramref name="duration"/>.</summary>
    public async Task<int> CountOverAsync(TimeSpan duration)
    {
        while (await _connection.WaitAsync(TimeSpan.FromMilliseconds(50)))
        {
        }

        var from = _heard;
        var clock = Stopwatch.StartNew();
        // Whole milliseconds, rounded up: Npgsql waits without a limit when given 0.
        for (var left = duration; left >= TimeSpan.FromMilliseconds(1); left = duration - clock.Elapsed)
        {
            await _connection.WaitAsync((int)Math.Ceiling(left.TotalMilliseconds));
        }

        return _heard - from;
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    [GeneratedRegex("probing on (sensors360_listener_[0-9a-f]{32})")]
    private static partial Regex ProbeChannel();
}
