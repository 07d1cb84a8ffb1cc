using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sensors360.Abstractions.Analytics;
using Sensors360.Grains.Analytics;

namespace Sensors360.Grains.Prediction;

/// <summary>
/// Wakes the failure risk grain of every configured horizon when a silo becomes active, so each registers its
/// retraining reminder and a fresh cluster trains its first models without waiting for a reader.
/// </summary>
public sealed partial class FailureModelSchedule(IGrainFactory grains, IOptions<AnalyticsOptions> options, ILogger<FailureModelSchedule> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(FailureModelSchedule), ServiceLifecycleStage.Active, async _ =>
        {
            foreach (var hours in options.Value.Horizons)
            {
                try
                {
                    await grains.GetGrain<IFailureRiskGrain>(hours).Wake();
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Not a reason to stop the silo: the first reader or another silo wakes the grain.
                    LogWakeFailed(logger, hours, e.Message);
                }
            }
        });

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not wake the failure model for {Hours} h: {Reason}")]
    private static partial void LogWakeFailed(ILogger logger, int hours, string reason);
}
