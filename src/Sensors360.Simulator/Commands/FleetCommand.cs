using System.CommandLine;
using Sensors360.Simulator.Fleet;
using Sensors360.Simulator.Status;

namespace Sensors360.Simulator.Commands;

/// <summary>The <c>fleet</c> command (also what runs without a command): a demo fleet with a known truth.</summary>
internal sealed class FleetCommand
{
    private readonly ServerOptions _server = new(defaultPrefix: "sim-", defaultTags: ["simulator"]);
    private readonly Option<int> _sensors = new("--sensors") { Description = "How many sensors the fleet has at a time.", DefaultValueFactory = _ => 200 };
    private readonly Option<TimeSpan?> _interval = DurationOption.Create("--interval", "The heartbeat interval of every sensor [default: 5s].");
    private readonly Option<double> _jitter = new("--jitter") { Description = "Each wait is the interval × (1 ± up to this fraction).", DefaultValueFactory = _ => 0.1 };
    private readonly Option<TimeSpan?> _threshold = DurationOption.Create("--threshold", "The silenceThresholdSeconds new sensors are provisioned with, whole seconds [default: 60].");
    private readonly Option<double> _lifespanShape = new("--lifespan-shape") { Description = "Shape k of the Weibull distribution of lifespans (1: exponential; above 1: wear-out).", DefaultValueFactory = _ => 1.5 };
    private readonly Option<TimeSpan?> _lifespanScale = DurationOption.Create("--lifespan-scale", "Scale λ of the Weibull distribution of lifespans; the mean is λ·Γ(1+1/k) [default: 600s].");
    private readonly Option<double> _flakyShare = new("--flaky-share") { Description = "The share of flaky sensors, which fall quiet for shorter and longer than the threshold and recover.", DefaultValueFactory = _ => 0.1 };
    private readonly Option<bool> _replace = new("--replace") { Description = "Retire dead sensors and provision new ones in their place, as a maintenance crew would." };
    private readonly Option<bool> _metrics = new("--metrics") { Description = "Send battery and temperature with each heartbeat.", DefaultValueFactory = _ => true };
    private readonly Option<bool> _noMetrics = new("--no-metrics") { Description = "Send heartbeats without a body." };
    private readonly Option<int?> _seed = new("--seed") { Description = "Seed of every random draw, to repeat a run [default: random, printed]." };
    private readonly Option<TimeSpan?> _duration = DurationOption.Create("--duration", "How long to run [default: until Ctrl+C].");
    private readonly Option<string?> _truth = new("--truth") { Description = "Write the ground truth per sensor to this CSV file: id,birth,death,flaky,lifespanSeconds,intervalSeconds.", HelpName = "csv" };

    /// <summary>Adds the fleet's options and action to <paramref name="command"/>.</summary>
    public static T Configure<T>(T command)
        where T : Command
    {
        var fleet = new FleetCommand();
        fleet._server.AddTo(command);
        foreach (var option in (Option[])[fleet._sensors, fleet._interval, fleet._jitter, fleet._threshold, fleet._lifespanShape, fleet._lifespanScale,
            fleet._flakyShare, fleet._replace, fleet._metrics, fleet._noMetrics, fleet._seed, fleet._duration, fleet._truth])
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, cancellationToken) => SimulatorCommands.RunAsync(
            () => FleetSimulation.RunAsync(fleet.Bind(parse), StatusLine.ForConsole(), TimeProvider.System, cancellationToken)));
        return command;
    }

    private FleetOptions Bind(ParseResult parse) => new()
    {
        Access = _server.Access(parse),
        Prefix = _server.Prefix(parse),
        Tags = _server.Tags(parse),
        Sensors = parse.GetValue(_sensors),
        Behaviour = new FleetBehaviour
        {
            Interval = parse.GetValue(_interval) ?? TimeSpan.FromSeconds(5),
            Jitter = parse.GetValue(_jitter),
            SilenceThreshold = parse.GetValue(_threshold) ?? TimeSpan.FromSeconds(60),
            LifespanShape = parse.GetValue(_lifespanShape),
            LifespanScale = parse.GetValue(_lifespanScale) ?? TimeSpan.FromSeconds(600),
            FlakyShare = parse.GetValue(_flakyShare),
            Replace = parse.GetValue(_replace),
        },
        Metrics = parse.GetValue(_metrics) && !parse.GetValue(_noMetrics),
        Seed = parse.GetValue(_seed) ?? Random.Shared.Next(),
        Duration = parse.GetValue(_duration),
        TruthFile = parse.GetValue(_truth),
    };
}
