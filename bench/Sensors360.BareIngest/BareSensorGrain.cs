namespace Sensors360.BareIngest;

public interface IBareSensorGrain : IGrainWithStringKey
{
    Task Beat();
}

/// <summary>
/// A sensor as a grain and nothing more: a number for its rows and its last time, so two heartbeats never share one
/// (the key is sensor and time, in microseconds, as in the product); each heartbeat is handed to the group commit.
/// </summary>
public sealed class BareSensorGrain(GroupCommit commit, TimeProvider clock) : Grain, IBareSensorGrain
{
    private long? _id;
    private DateTimeOffset _last;

    public Task Beat()
    {
        _id ??= StringComparer.Ordinal.GetHashCode(this.GetPrimaryKeyString()) & int.MaxValue;
        var now = clock.GetUtcNow();
        now = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMicrosecond));
        _last = now > _last ? now : _last.AddTicks(TimeSpan.TicksPerMicrosecond);
        return commit.AppendAsync(_id.Value, _last);
    }
}
