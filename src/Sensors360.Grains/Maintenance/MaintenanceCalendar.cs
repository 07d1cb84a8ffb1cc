using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Maintenance;

/// <summary>
/// The maintenance windows not yet over, held in memory once per silo, so a sensor grain learns whether it is
/// paused without a query. Reloaded when a window changes (the server's change listener hears
/// <see cref="MaintenanceStore.ChangeChannel"/>), and every <see cref="RefreshEvery"/> in case an announcement was
/// missed. Grains consult it only when a silence comes due, never on the heartbeat path.
/// </summary>
public sealed partial class MaintenanceCalendar(
    MaintenanceStore store,
    [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
    ILogger<MaintenanceCalendar> logger) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    public static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(30);

    // Windows that ended this long ago are no longer held (a monitoring clock a little behind still sees them).
    private static readonly TimeSpan KeepEnded = TimeSpan.FromDays(1);

    private readonly SemaphoreSlim _loading = new(1, 1);
    private volatile IReadOnlyList<MaintenanceWindow>? _windows;
    private readonly SiloLoop _refresh = new();

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(MaintenanceCalendar), ServiceLifecycleStage.ApplicationServices, StartAsync, _refresh.StopAsync);

    /// <summary>Loads the windows if this silo never could yet; throws when the database does not answer.</summary>
    public async ValueTask EnsureLoadedAsync()
    {
        if (_windows is null)
        {
            await ReloadAsync(CancellationToken.None);
        }
    }

    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        await _loading.WaitAsync(cancellationToken);
        try
        {
            _windows = await store.ListAsync(clock.GetUtcNow() - KeepEnded, cancellationToken);
        }
        finally
        {
            _loading.Release();
        }
    }

    /// <summary>Reloads without waiting, logging a failure (the periodic refresh tries again).</summary>
    public void ReloadSoon() => _ = ReloadLoggedAsync(CancellationToken.None);

    /// <summary>
    /// When the pause running at <paramref name="at"/> ends for a sensor with <paramref name="tags"/> whose own
    /// pause lasts until <paramref name="ownPauseUntil"/>: windows and the own pause that meet or overlap are one
    /// pause. Null when the sensor is not paused at <paramref name="at"/>.
    /// </summary>
    public DateTimeOffset? PausedUntil(IReadOnlyCollection<string> tags, DateTimeOffset? ownPauseUntil, DateTimeOffset at)
    {
        var windows = _windows ?? [];
        var until = at;
        bool moved;
        do
        {
            moved = false;
            if (ownPauseUntil is { } own && own > until)
            {
                until = own;
                moved = true;
            }

            foreach (var window in windows)
            {
                if (window.Covers(tags, until))
                {
                    until = window.End;
                    moved = true;
                }
            }
        }
        while (moved);

        return until > at ? until : null;
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        await ReloadLoggedAsync(cancellationToken);
        _refresh.Start(RefreshAsync);
    }

    private async Task RefreshAsync(CancellationToken stopping)
    {
        // Real time, not the monitoring clock: a refresh is about the database, not about sensors' time.
        using var timer = new PeriodicTimer(RefreshEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                await ReloadLoggedAsync(stopping);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private async Task ReloadLoggedAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ReloadAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            LogReloadFailed(logger, e.Message.ReplaceLineEndings(" "));
        }
    }

    public void Dispose()
    {
        _refresh.Dispose();
        _loading.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the maintenance windows; the next refresh tries again: {Reason}")]
    private static partial void LogReloadFailed(ILogger logger, string reason);
}
