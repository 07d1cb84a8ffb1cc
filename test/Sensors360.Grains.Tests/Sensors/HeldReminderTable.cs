using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// The silo's own reminder table, which a test can hold: while held, every read and write of a grain's rows waits
/// without an answer, as a reminder service does whose silo died with the call in flight.
/// </summary>
internal sealed class HeldReminderTable(IReminderTable table) : IReminderTable
{
    private const string RegistryKey = "Sensors360:Test:HeldReminderTable";

    // Silo configurators are created by type, so each fleet finds its table through this registry.
    private static readonly ConcurrentDictionary<string, HeldReminderTable> Tables = new();

    private TaskCompletionSource _released = NewReleased();
    private int _waiting;

    /// <summary>Calls waiting for the table to be released.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public void Hold() => _released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _released.TrySetResult();

    public Task StartAsync(CancellationToken cancellationToken = default) => table.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken = default) => table.StopAsync(cancellationToken);

    public async Task<ReminderTableData> ReadRows(GrainId grainId)
    {
        await PassAsync();
        return await table.ReadRows(grainId);
    }

    public async Task<ReminderTableData> ReadRows(uint begin, uint end)
    {
        await PassAsync();
        return await table.ReadRows(begin, end);
    }

    public async Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName)
    {
        await PassAsync();
        return await table.ReadRow(grainId, reminderName);
    }

    public async Task<string?> UpsertRow(ReminderEntry entry)
    {
        await PassAsync();
        return await table.UpsertRow(entry);
    }

    public async Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag)
    {
        await PassAsync();
        return await table.RemoveRow(grainId, reminderName, eTag);
    }

    public Task TestOnlyClearTable() => table.TestOnlyClearTable();

    private async Task PassAsync()
    {
        var released = _released.Task;
        if (released.IsCompleted)
        {
            return;
        }

        Interlocked.Increment(ref _waiting);
        try
        {
            await released;
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    private static TaskCompletionSource NewReleased()
    {
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        released.SetResult();
        return released;
    }

    /// <summary>Puts the table around a fleet's silo's own and returns a way to reach it once the silo has made it.</summary>
    public static (Action<TestClusterBuilder> Configure, Func<HeldReminderTable> Table) ForFleet()
    {
        var id = Guid.NewGuid().ToString("N");
        return (
            builder =>
            {
                builder.Properties[RegistryKey] = id;
                builder.AddSiloBuilderConfigurator<Configurator>();
            },
            () => Tables[id]);
    }

    private sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            var id = siloBuilder.Configuration[RegistryKey]!;
            var own = siloBuilder.Services.Last(service => service.ServiceType == typeof(IReminderTable));
            siloBuilder.Services.Remove(own);
            siloBuilder.Services.AddSingleton<IReminderTable>(provider => Tables[id] = new HeldReminderTable(Own(provider, own)));
        }

        private static IReminderTable Own(IServiceProvider provider, ServiceDescriptor own) =>
            (IReminderTable)(own.ImplementationInstance
                ?? own.ImplementationFactory?.Invoke(provider)
                ?? ActivatorUtilities.CreateInstance(provider, own.ImplementationType!));
    }
}
