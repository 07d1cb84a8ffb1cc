using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Sensors360.Abstractions.Analytics;
using Sensors360.Grains.Analytics;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Prediction;

/// <summary>
/// The failure model of one horizon and the ranking it gives (<see cref="IFailureRiskGrain"/>). Training and scoring
/// run off the grain's turn, one at a time each; the grain is reentrant so readers are answered from the last ranking
/// meanwhile. A reminder retrains it every <see cref="AnalyticsOptions.RetrainEvery"/> and brings it back after a restart.
/// </summary>
[Reentrant]
public sealed partial class FailureRiskGrain(
    [PersistentState("failureModel")] IPersistentState<FailureModelState> state,
    FailurePrediction prediction,
    IOptions<AnalyticsOptions> options,
    [FromKeyedServices(MonitoringClock.Key)] TimeProvider clock,
    IHostApplicationLifetime lifetime,
    ILogger<FailureRiskGrain> logger) : Grain, IFailureRiskGrain, IRemindable
{
    private const string Retrain = "retrain";

    private FailureModel? _model;
    private AtRiskRanking? _ranking;
    private NoFailureModel? _missing;
    private Task<TrainingAnswer>? _training;
    private Task? _scoring;

    private TimeSpan Horizon => TimeSpan.FromHours(this.GetPrimaryKeyLong());

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        _model = LoadSaved();
        if (_model is not null)
        {
            _scoring = ScoreAsync();
        }

        var age = state.State.Summary is { } summary ? clock.GetUtcNow() - summary.TrainedAt : TimeSpan.MaxValue;
        var due = age >= settings.RetrainEvery ? TimeSpan.FromMinutes(1) : settings.RetrainEvery - age;
        await this.RegisterOrUpdateReminder(Retrain, due, settings.RetrainEvery, cancellationToken);
        this.RegisterGrainTimer(_ => RescoreAsync(), new GrainTimerCreationOptions(settings.RescoreEvery, settings.RescoreEvery) { Interleave = true });
        if (_model is null)
        {
            _ = TrainOrLogAsync();
        }
    }

    /// <summary>
    /// The persisted model, unless it reads other features than this version computes or cannot be read (an
    /// upgrade changed them): then it is trained again rather than fed the wrong columns.
    /// </summary>
    private FailureModel? LoadSaved()
    {
        if (state.State is not { Model: { } saved, Summary: { } summary } stored)
        {
            return null;
        }

        if (!new RiskFeatures(stored.Metrics, stored.FleetInterval).Names.SequenceEqual(summary.Features))
        {
            LogModelDiscarded(logger, this.GetPrimaryKeyLong(), "its features differ from this version's");
            return null;
        }

        try
        {
            return FailureModel.Load(saved, summary.Features.Length, stored.SurvivorRate);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or InvalidDataException or ArgumentException)
        {
            LogModelDiscarded(logger, this.GetPrimaryKeyLong(), e.Message);
            return null;
        }
    }

    public async Task<AtRiskAnswer> GetAtRisk(int limit)
    {
        if (_ranking is null && _scoring is { } scoring)
        {
            try
            {
                await scoring;
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
            {
                return new AtRiskAnswer(null, new NoFailureModel($"The sensors could not be ranked yet ({e.Message}); the next try is within {options.Value.RescoreEvery}.", null));
            }
        }

        if (_ranking is not { } ranking || state.State.Summary is not { } model)
        {
            return new AtRiskAnswer(null, _missing ?? new NoFailureModel("The first failure model is being trained.", null));
        }

        return new AtRiskAnswer(
            new AtRiskReport((long)Horizon.TotalSeconds, model, ranking.At, ranking.Live, ranking.Sensors[..Math.Min(limit, ranking.Sensors.Length)]),
            null);
    }

    public Task<TrainingAnswer> Train() => StartTraining();

    public Task Wake() => Task.CompletedTask;

    /// <summary>Trains unless a model was trained lately (by hand, say): the reminder keeps its own rhythm.</summary>
    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        state.State.Summary is { } summary && clock.GetUtcNow() - summary.TrainedAt < options.Value.RetrainEvery * 0.9
            ? Task.CompletedTask
            : TrainOrLogAsync();

    /// <summary>A scheduled training: a failure is logged, the last model stays, and the next reminder tries again.</summary>
    private async Task TrainOrLogAsync()
    {
        try
        {
            await StartTraining();
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException or OperationCanceledException)
        {
            // Canceled: the silo is stopping, and the model is trained again after the restart if it is due.
            LogTrainingFailed(logger, this.GetPrimaryKeyLong(), e.Message);
        }
    }

    /// <summary>The training under way, or a new one.</summary>
    private Task<TrainingAnswer> StartTraining() => _training is { IsCompleted: false } running ? running : _training = TrainAsync();

    private async Task<TrainingAnswer> TrainAsync()
    {
        var horizon = Horizon;
        // Off the grain's turn: reading the history and fitting take seconds to minutes.
        var trained = await Task.Run(() => prediction.TrainAsync(horizon, lifetime.ApplicationStopping));
        if (trained.Model is not { } model)
        {
            _missing = new NoFailureModel(trained.Reason!, clock.GetUtcNow() + options.Value.RescoreEvery);
            LogNoModel(logger, horizon.TotalHours, trained.Reason!);
            return new TrainingAnswer(null, _missing);
        }

        state.State = new FailureModelState
        {
            Model = model.Save(),
            Summary = trained.Summary,
            Metrics = trained.Metrics,
            FleetInterval = trained.FleetInterval,
            SurvivorRate = model.SurvivorRate,
        };
        await state.WriteStateAsync();
        _model = model;
        _missing = null;
        var summary = trained.Summary!;
        LogTrained(logger, horizon.TotalHours, summary.TrainedOn, summary.TrainingFailures, summary.ValidationAuc, summary.AgeOnlyAuc);
        await (_scoring = ScoreAsync());
        return new TrainingAnswer(trained.Summary, null);
    }

    /// <summary>Ranks again; while there is no model, tries to train one instead, as the history may have grown enough.</summary>
    private async Task RescoreAsync()
    {
        if (_model is null)
        {
            if (_training is not { IsCompleted: false })
            {
                await TrainOrLogAsync();
            }

            return;
        }

        if (_scoring is { IsCompleted: false })
        {
            return;
        }

        try
        {
            await (_scoring = ScoreAsync());
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
        {
            // The last ranking stays; the next tick tries again.
            LogScoringFailed(logger, this.GetPrimaryKeyLong(), e.Message);
        }
    }

    private async Task ScoreAsync()
    {
        var (model, metrics, interval) = (_model!, state.State.Metrics, state.State.FleetInterval);
        var ranking = await Task.Run(() => prediction.RankAsync(model, metrics, interval, lifetime.ApplicationStopping));
        // A ranking by a model replaced meanwhile would be shown under the new model's summary.
        if (ReferenceEquals(model, _model))
        {
            _ranking = ranking;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Failure model for {Hours} h trained on {Examples} examples ({Failures} failures): validation AUC {Auc}, age alone {AgeAuc}")]
    private static partial void LogTrained(ILogger logger, double hours, int examples, int failures, double auc, double ageAuc);

    [LoggerMessage(Level = LogLevel.Information, Message = "No failure model for {Hours} h yet: {Reason}")]
    private static partial void LogNoModel(ILogger logger, double hours, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not train the failure model for {Hours} h: {Reason}")]
    private static partial void LogTrainingFailed(ILogger logger, long hours, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The saved failure model for {Hours} h is trained again: {Reason}")]
    private static partial void LogModelDiscarded(ILogger logger, long hours, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not rank the sensors for {Hours} h: {Reason}")]
    private static partial void LogScoringFailed(ILogger logger, long hours, string reason);
}
