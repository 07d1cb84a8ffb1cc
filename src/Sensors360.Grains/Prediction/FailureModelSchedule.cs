using Microsoft.Extensions.Options;
using Sensors360.Abstractions.Analytics;
using Sensors360.Grains.Analytics;

namespace Sensors360.Grains.Prediction;

/// <summary>
/// Wakes the failure risk grain of every configured horizon when a silo becomes active, so each registers its
/// retraining reminder and a fresh cluster trains its first models without waiting for a reader.
/// </summary>
public sealed class FailureModelSchedule(IGrainFactory grains, IOptions<AnalyticsOptions> options) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(FailureModelSchedule), ServiceLifecycleStage.Active, async _ =>
        {
            foreach (var hours in options.Value.HorizonHours)
            {
                await grains.GetGrain<IFailureRiskGrain>(hours).Wake();
            }
        });
}
