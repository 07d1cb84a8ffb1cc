using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Sensors360.Grains.Alerts;
using Sensors360.Grains.Dashboard;
using Sensors360.Grains.Maintenance;
using Sensors360.Grains.Uptime;

namespace Sensors360.Grains.Sensors;

public static class SensorMonitoring
{
    /// <summary>
    /// What sensor grains need in a silo: the heartbeat writer, the stores, the monitoring settings and
    /// clock, and reminders allowed down to the silence check period. Expects an NpgsqlDataSource.
    /// </summary>
    public static IServiceCollection AddSensorMonitoring(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<MonitoringOptions>()
            .Bind(configuration.GetSection(MonitoringOptions.Section))
            .Validate(options => options.SilenceThreshold >= MonitoringOptions.MinimumPeriod,
                $"{MonitoringOptions.Section}:SilenceThreshold must be at least {MonitoringOptions.MinimumPeriod}.")
            .Validate(options => options.SilenceCheckPeriod >= MonitoringOptions.MinimumPeriod,
                $"{MonitoringOptions.Section}:SilenceCheckPeriod must be at least {MonitoringOptions.MinimumPeriod}.")
            .Validate(options => options.SweepPeriod >= MonitoringOptions.MinimumPeriod,
                $"{MonitoringOptions.Section}:SweepPeriod must be at least {MonitoringOptions.MinimumPeriod}.")
            .Validate(options => options.CheckpointPeriod >= MonitoringOptions.MinimumCheckpointPeriod && options.CheckpointPeriod <= MonitoringOptions.MaximumCheckpointPeriod,
                $"{MonitoringOptions.Section}:CheckpointPeriod must be from {MonitoringOptions.MinimumCheckpointPeriod} to {MonitoringOptions.MaximumCheckpointPeriod}.")
            .ValidateOnStart();
        services.TryAddKeyedSingleton(MonitoringClock.Key, TimeProvider.System);
        // The checkpoint's period is the silo's own time, not the sensors' (which tests may drive by hand).
        services.TryAddSingleton(TimeProvider.System);
        // One timer per silo for every sensor grain's silence wake-up, not one per grain.
        services.AddSingleton<SilenceSchedule>();
        // Paced on the silo's own time: the monitoring clock may be a test's.
        services.AddKeyedSingleton(SensorGrain.LoadWarningsKey, (provider, _) => new WarningPace(WarningPace.Every, provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<SensorStore>();
        services.AddSingleton<SensorDirectory>();
        services.AddSingleton<UptimeStore>();
        services.AddSingleton<HeartbeatHistory>();
        services.AddSingleton<AlertStore>();
        services.AddSingleton<HeartbeatImport>();
        services.AddSingleton<HeartbeatLog>();
        services.AddHostedService(provider => provider.GetRequiredService<HeartbeatLog>());
        // Heartbeats only note their sensors; this writes the counters of all of them every checkpoint period.
        services.AddSingleton<SensorCheckpoint>();
        services.AddHostedService(provider => provider.GetRequiredService<SensorCheckpoint>());
        // Try: a host that registered its own writer first (the benchmark) keeps it.
        services.TryAddSingleton<IHeartbeatWriter>(provider => provider.GetRequiredService<HeartbeatLog>());
        // One silo at a time sweeps the database for silences nothing else raised (SilenceSweep).
        services.AddSingleton<SilenceSweep>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(provider => provider.GetRequiredService<SilenceSweep>());
        // Each silo holds the maintenance windows in memory for its sensor grains (reloaded on change).
        services.AddSingleton<MaintenanceStore>();
        services.AddSingleton<MaintenanceCalendar>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(provider => provider.GetRequiredService<MaintenanceCalendar>());
        services.AddSingleton<FleetStore>();
        services.AddSingleton<HeartbeatTally>();
        services.AddHostedService(provider => provider.GetRequiredService<HeartbeatTally>());
        // Orleans refuses reminder periods under a minute by default; tests and demos check every second.
        services.AddSingleton<IConfigureOptions<ReminderOptions>>(provider => new ConfigureOptions<ReminderOptions>(reminders =>
        {
            var checkPeriod = provider.GetRequiredService<IOptions<MonitoringOptions>>().Value.SilenceCheckPeriod;
            if (checkPeriod < reminders.MinimumReminderPeriod)
            {
                reminders.MinimumReminderPeriod = checkPeriod;
            }
        }));
        return services;
    }
}
