using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;

namespace Sensors360.Grains.Prediction;

/// <summary>
/// A trained failure model: ML.NET's gradient-boosted trees (FastTree) with Platt calibration, and the
/// contributions of each feature to a sensor's score, saved together as one ML.NET model.
/// </summary>
public sealed class FailureModel
{
    /// <summary>What <c>model.kind</c> says.</summary>
    public const string Kind = "gradientBoostedTrees";

    /// <summary>How many features are named as drivers of one sensor's risk, at most.</summary>
    public const int Drivers = 3;

    /// <summary>One thread: training runs beside ingest on the same cores, and must not take them all.</summary>
    private const int Threads = 1;

    private readonly MLContext _ml;
    private readonly ITransformer _model;
    private readonly SchemaDefinition _input;
    private readonly SchemaDefinition _output;

    private FailureModel(MLContext ml, ITransformer model, int featureCount, double survivorRate)
    {
        _ml = ml;
        _model = model;
        FeatureCount = featureCount;
        SurvivorRate = survivorRate;
        (_input, _output) = Schemas(featureCount);
    }

    public int FeatureCount { get; }

    /// <summary>The share of survivors the training kept; probabilities are corrected for it.</summary>
    public double SurvivorRate { get; }

    /// <summary>Trains on every example and measures, on the validation slice, it and an age-only model trained on the rest.</summary>
    public static FailureModelTraining Train(TrainingSet set, int featureCount, int seed, CancellationToken cancellationToken)
    {
        var ml = new MLContext(seed);
        var (input, _) = Schemas(featureCount);
        var all = Rows(set, _ => true);
        var training = ml.Data.LoadFromEnumerable(Rows(set, i => !set.Validation[i]), input);
        var validation = ml.Data.LoadFromEnumerable(Rows(set, i => set.Validation[i]), input);

        // A fit cannot be stopped midway; a silo shutting down waits for one at most, not for all three.
        var validated = Trainer(ml).Fit(training);
        cancellationToken.ThrowIfCancellationRequested();
        var validationAuc = ml.BinaryClassification.Evaluate(validated.Transform(validation)).AreaUnderRocCurve;

        // The same trees given the age alone: what the fleet's age profile tells without any heartbeat pattern.
        var (ageInput, _) = Schemas(1);
        var ageTraining = ml.Data.LoadFromEnumerable(AgeOnly(Rows(set, i => !set.Validation[i])), ageInput);
        var ageValidation = ml.Data.LoadFromEnumerable(AgeOnly(Rows(set, i => set.Validation[i])), ageInput);
        var ageOnlyAuc = ml.BinaryClassification.Evaluate(Trainer(ml).Fit(ageTraining).Transform(ageValidation)).AreaUnderRocCurve;
        cancellationToken.ThrowIfCancellationRequested();

        var everything = ml.Data.LoadFromEnumerable(all, input);
        var final = Trainer(ml).Fit(everything);
        var contributions = ml.Transforms.CalculateFeatureContribution(
                final, numberOfPositiveContributions: Drivers, numberOfNegativeContributions: 0, normalize: false)
            .Fit(final.Transform(everything));
        var model = new TransformerChain<ITransformer>(final, contributions);
        return new FailureModelTraining(new FailureModel(ml, model, featureCount, set.SurvivorRate), validationAuc, ageOnlyAuc);
    }

    /// <summary>A model saved by <see cref="Save"/>.</summary>
    public static FailureModel Load(byte[] saved, int featureCount, double survivorRate)
    {
        var ml = new MLContext();
        using var stream = new MemoryStream(saved, writable: false);
        return new FailureModel(ml, ml.Model.Load(stream, out _), featureCount, survivorRate);
    }

    public byte[] Save()
    {
        using var stream = new MemoryStream();
        _ml.Model.Save(_model, _ml.Data.LoadFromEnumerable(Array.Empty<Example>(), _input).Schema, stream);
        return stream.ToArray();
    }

    /// <summary>Each sensor's chance of failing within the horizon and each feature's contribution to its score (positive ones only).</summary>
    public IReadOnlyList<(double Probability, float[] Contributions)> Score(IReadOnlyList<float[]> features)
    {
        var data = _ml.Data.LoadFromEnumerable(features.Select(row => new Example { Features = row }), _input);
        var scored = _ml.Data.CreateEnumerable<Scored>(_model.Transform(data), reuseRowObject: false, schemaDefinition: _output);
        return [.. scored.Select(row => (Corrected(row.Probability), row.FeatureContributions))];
    }

    /// <summary>
    /// Undoes the survivor sampling: with survivors kept at rate r the model saw the odds of failing multiplied by 1/r.
    /// </summary>
    private double Corrected(float probability)
    {
        var p = (double)probability;
        return SurvivorRate >= 1 ? p : p * SurvivorRate / ((p * SurvivorRate) + 1 - p);
    }

    private static FastTreeBinaryTrainer Trainer(MLContext ml) => ml.BinaryClassification.Trainers.FastTree(new FastTreeBinaryTrainer.Options
    {
        LabelColumnName = nameof(Example.Label),
        FeatureColumnName = nameof(Example.Features),
        NumberOfTrees = 200,
        NumberOfLeaves = 20,
        MinimumExampleCountPerLeaf = 20,
        LearningRate = 0.1,
        NumberOfThreads = Threads,
    });

    private static IEnumerable<Example> Rows(TrainingSet set, Func<int, bool> take)
    {
        for (var i = 0; i < set.Features.Count; i++)
        {
            if (take(i))
            {
                yield return new Example { Features = set.Features[i], Label = set.Failed[i] };
            }
        }
    }

    private static IEnumerable<Example> AgeOnly(IEnumerable<Example> rows) =>
        rows.Select(row => new Example { Features = [row.Features[RiskFeatures.Age]], Label = row.Label });

    /// <summary>The feature vector's length is known only when the metrics are chosen, so the schemas say it at run time.</summary>
    private static (SchemaDefinition Input, SchemaDefinition Output) Schemas(int featureCount)
    {
        var vector = new VectorDataViewType(NumberDataViewType.Single, featureCount);
        var input = SchemaDefinition.Create(typeof(Example));
        input[nameof(Example.Features)].ColumnType = vector;
        var output = SchemaDefinition.Create(typeof(Scored), SchemaDefinition.Direction.Read);
        output[nameof(Scored.FeatureContributions)].ColumnType = vector;
        return (input, output);
    }

    private sealed class Example
    {
        public float[] Features { get; set; } = [];

        public bool Label { get; set; }
    }

    private sealed class Scored
    {
        public float Probability { get; set; }

        public float[] FeatureContributions { get; set; } = [];
    }
}

/// <summary>A trained model and the areas under the ROC curve it and an age-only model reached on the validation slice.</summary>
public sealed record FailureModelTraining(FailureModel Model, double ValidationAuc, double AgeOnlyAuc);
