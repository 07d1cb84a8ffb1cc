using System.Collections.Concurrent;

namespace Sensors360.Server.Tests.Cluster;

/// <summary>A grain whose only job is to keep a value in the default (PostgreSQL) grain storage.</summary>
public interface IStateProbeGrain : IGrainWithStringKey
{
    Task Write(string value);

    /// <summary>Reads the state from storage again, not from memory.</summary>
    Task<(string? Value, bool RecordExists)> ReadFromStorage();

    Task Clear();

    /// <summary>Ends this activation, so the next call reads from storage in a new one.</summary>
    Task Deactivate();
}

[GenerateSerializer]
public sealed class ProbeState
{
    [Id(0)]
    public string? Value { get; set; }
}

public sealed class StateProbeGrain([PersistentState("probe")] IPersistentState<ProbeState> state) : Grain, IStateProbeGrain
{
    public Task Write(string value)
    {
        state.State.Value = value;
        return state.WriteStateAsync();
    }

    public async Task<(string? Value, bool RecordExists)> ReadFromStorage()
    {
        await state.ReadStateAsync();
        return (state.State.Value, state.RecordExists);
    }

    public Task Clear() => state.ClearStateAsync();

    public Task Deactivate()
    {
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}

/// <summary>A grain that registers a reminder and notes, per tick, which silo it ran on.</summary>
public interface IReminderProbeGrain : IGrainWithStringKey
{
    Task Start(TimeSpan dueTime, TimeSpan period);

    Task Cancel();
}

public sealed class ReminderProbeGrain(ILocalSiloDetails silo) : Grain, IReminderProbeGrain, IRemindable
{
    public const string ReminderName = "probe";

    /// <summary>Every tick so far: the grain's key and the silo it fired on. Tests run in one process.</summary>
    public static ConcurrentQueue<(string Grain, SiloAddress Silo)> Ticks { get; } = new();

    public Task Start(TimeSpan dueTime, TimeSpan period) => this.RegisterOrUpdateReminder(ReminderName, dueTime, period);

    public async Task Cancel()
    {
        var reminder = await this.GetReminder(ReminderName);
        if (reminder is not null)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        Ticks.Enqueue((this.GetPrimaryKeyString(), silo.SiloAddress));
        return Task.CompletedTask;
    }
}
