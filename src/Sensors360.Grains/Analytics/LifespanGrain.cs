using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sensors360.Abstractions.Analytics;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Analytics;

/// <summary>
/// Holds one lifespan estimate (<see cref="ILifespanGrain"/>): reading every sensor of a large fleet and
/// fitting takes a good part of a second, so it is done here on a timer, never while a reader waits.
/// </summary>
public sealed partial class LifespanGrain(
    LifespanStore store,
    [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
    ILogger<LifespanGrain> logger) : Grain, ILifespanGrain
{
    /// <summary>How often the estimate is computed again: lifespans move slowly.</summary>
    public static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(30);

    private LifespanReport? _report;

    private string? Tag => this.GetPrimaryKeyString() is var key && key != ILifespanGrain.WholeFleet ? key : null;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await RefreshAsync(cancellationToken);
        // Interleaved: readers are answered from the last estimate while the next one is computed.
        this.RegisterGrainTimer(async token =>
        {
            try
            {
                await RefreshAsync(token);
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
            {
                // The last estimate stays; the next tick tries again.
                LogRefreshFailed(logger, Tag ?? "(all)", e.Message);
            }
        }, new GrainTimerCreationOptions(RefreshEvery, RefreshEvery) { Interleave = true });
    }

    public Task<LifespanReport> GetLifespan() => Task.FromResult(_report!);

    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var estimate = LifespanEstimate.From(await store.ReadAsync(Tag, cancellationToken));
        _report = new LifespanReport(
            estimate.Sensors,
            estimate.Failed,
            estimate.Censored,
            Round(estimate.MeanSeconds),
            estimate.MeanCi95 is { } ci ? [Math.Round(ci.Low, 1), Math.Round(ci.High, 1)] : null,
            estimate.MeanMethod.ToString().ToLowerInvariant(),
            Round(estimate.MedianSeconds),
            estimate.Weibull is { } fit ? new WeibullReport(Math.Round(fit.Shape, 4), Math.Round(fit.ScaleSeconds, 1)) : null,
            Round(estimate.NaiveMeanSeconds),
            [.. estimate.Curve.Select(point => new SurvivalStep(Math.Round(point.AgeSeconds, 1), Math.Round(point.Survival, 6), point.AtRisk))],
            clock.GetUtcNow());
    }

    private static double? Round(double? seconds) => seconds is { } value ? Math.Round(value, 1) : null;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not refresh the lifespan estimate of {Tag}: {Reason}")]
    private static partial void LogRefreshFailed(ILogger logger, string tag, string reason);
}
