using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// A <see cref="SensorCheckpoint"/> outside a silo, on a test's database, with the meters it needs. The test runs its
/// statements itself (<see cref="SensorCheckpoint.Note"/>, <see cref="SensorCheckpoint.WriteAsync"/>) or starts it.
/// </summary>
internal sealed class StandaloneCheckpoint : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public StandaloneCheckpoint(NpgsqlDataSource db, TimeProvider? clock = null) =>
        Checkpoint = new SensorCheckpoint(
            db, Options.Create(new MonitoringOptions()), clock ?? TimeProvider.System, _services.GetRequiredService<IMeterFactory>(),
            NullLogger<SensorCheckpoint>.Instance);

    public SensorCheckpoint Checkpoint { get; }

    public void Dispose()
    {
        Checkpoint.Dispose();
        _services.Dispose();
    }
}
