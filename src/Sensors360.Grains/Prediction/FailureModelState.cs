using Sensors360.Abstractions.Analytics;

namespace Sensors360.Grains.Prediction;

/// <summary>
/// A failure risk grain's persistent state (ADO.NET grain storage): the last trained model as ML.NET saved it and
/// what scoring with it needs, so a restarted cluster ranks with it at once.
/// </summary>
[GenerateSerializer]
public sealed class FailureModelState
{
    [Id(0)]
    public byte[]? Model { get; set; }

    [Id(1)]
    public FailureModelSummary? Summary { get; set; }

    [Id(2)]
    public string[] Metrics { get; set; } = [];

    [Id(3)]
    public double FleetInterval { get; set; }

    [Id(4)]
    public double SurvivorRate { get; set; } = 1;
}
