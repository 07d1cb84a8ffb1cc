using System.Threading.Channels;
using Npgsql;

namespace Sensors360.BareIngest;

/// <summary>
/// Group commit as the product's heartbeat writer does it, bare: a few writers, each with its own connection, take
/// whatever heartbeats are waiting and insert them in one autocommitted statement; each caller completes after the commit.
/// </summary>
public sealed class GroupCommit
{
    private readonly Channel<(long Sensor, DateTimeOffset At, TaskCompletionSource Done)> _waiting =
        Channel.CreateUnbounded<(long, DateTimeOffset, TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = false });

    public GroupCommit(string connectionString, int writers)
    {
        for (var i = 0; i < writers; i++)
        {
            _ = Task.Run(() => WriteAsync(connectionString));
        }
    }

    public Task AppendAsync(long sensor, DateTimeOffset at)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting.Writer.TryWrite((sensor, at, done));
        return done.Task;
    }

    private async Task WriteAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var batch = new List<(long Sensor, DateTimeOffset At, TaskCompletionSource Done)>();
        while (await _waiting.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < 1000 && _waiting.Reader.TryRead(out var heartbeat))
            {
                batch.Add(heartbeat);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            try
            {
                await using var insert = new NpgsqlCommand(
                    "INSERT INTO bare_heartbeat (sensor_id, received_at) SELECT * FROM unnest($1::bigint[], $2::timestamptz[])", connection);
                insert.Parameters.AddWithValue(batch.Select(heartbeat => heartbeat.Sensor).ToArray());
                insert.Parameters.AddWithValue(batch.Select(heartbeat => heartbeat.At).ToArray());
                await insert.ExecuteNonQueryAsync();
                batch.ForEach(heartbeat => heartbeat.Done.SetResult());
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                batch.ForEach(heartbeat => heartbeat.Done.SetException(e));
            }
        }
    }
}
