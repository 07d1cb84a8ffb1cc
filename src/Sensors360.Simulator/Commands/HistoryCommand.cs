using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Sensors360.Simulator.History;

namespace Sensors360.Simulator.Commands;

/// <summary>The <c>history</c> command: writes a simulated fleet's past as NDJSON heartbeats for the import, with its truth.</summary>
internal sealed class HistoryCommand
{
    private readonly Option<int> _sensors = new("--sensors") { Description = "How many sensors the history has.", DefaultValueFactory = _ => 100 };
    private readonly Option<string> _out = new("--out") { Description = "Write the heartbeats to this NDJSON file, one {\"sensor\",\"at\",\"metrics\"} a line.", HelpName = "ndjson", Required = true };
    private readonly Option<string> _truth = new("--truth") { Description = "Write the ground truth per sensor to this CSV file.", HelpName = "csv", Required = true };
    private readonly Option<string?> _manifest = new("--manifest") { Description = "Write the sensors' ids and tags (model-a/model-b, site-N) to this JSON file.", HelpName = "json" };
    private readonly Option<string> _prefix = new("--prefix") { Description = "The start of the sensors' ids; they are numbered from 00001.", DefaultValueFactory = _ => "hist-" };
    private readonly Option<int> _sites = new("--sites") { Description = "How many sites (tags site-1 … site-N) the sensors are spread over.", DefaultValueFactory = _ => 10 };
    private readonly Option<TimeSpan?> _interval = DurationOption.Create("--interval", "The heartbeat interval of every sensor [default: 1h].");
    private readonly Option<double> _jitter = new("--jitter") { Description = "Each wait is the interval × (1 ± up to this fraction).", DefaultValueFactory = _ => 0.1 };
    private readonly Option<double> _lifespanShape = new("--lifespan-shape") { Description = "Shape k of the Weibull distribution of lifespans (1: exponential; above 1: wear-out).", DefaultValueFactory = _ => 1.5 };
    private readonly Option<TimeSpan?> _lifespanScale = DurationOption.Create("--lifespan-scale", "Scale λ of the Weibull distribution of lifespans; the mean is λ·Γ(1+1/k) [default: 365d].");
    private readonly Option<DateTimeOffset?> _end = new("--end") { Description = "When the history ends, ISO 8601 (UTC unless it has an offset) [default: now].", HelpName = "time", CustomParser = ParseTime };
    private readonly Option<TimeSpan?> _span = DurationOption.Create("--span", "How far back from --end the history starts [default: 365d].");
    private readonly Option<TimeSpan?> _installOver = DurationOption.Create("--install-over", "Sensors are installed uniformly over this long from the start of the history [default: 180d].");
    private readonly Option<double> _decommissionedShare = new("--decommissioned-share") { Description = "The share of sensors taken out of service at a random age before their death.", DefaultValueFactory = _ => 0.05 };
    private readonly Option<double> _announcingShare = new("--announcing-share") { Description = "The share of failures announced by late, then missed heartbeats before death.", DefaultValueFactory = _ => 0.5 };
    private readonly Option<double> _flakyShare = new("--flaky-share") { Description = "The share of sensors that miss heartbeats and fall quiet now and then all their life.", DefaultValueFactory = _ => 0.1 };
    private readonly Option<TimeSpan?> _precursor = DurationOption.Create("--precursor", "Mean length of an announcing failure's precursor; each draws 0.5–1.5 × this [default: 14d].");
    private readonly Option<bool> _noMetrics = new("--no-metrics") { Description = "Write heartbeats without battery and temperature." };
    private readonly Option<int?> _seed = new("--seed") { Description = "Seed of every random draw; with --end the files repeat byte for byte [default: random, printed]." };

    private readonly Lazy<DateTimeOffset> _now;

    private HistoryCommand(TimeProvider clock) =>
        // Read once, to whole seconds, so the default end shows as it would be typed to repeat the run.
        _now = new Lazy<DateTimeOffset>(() =>
        {
            var now = clock.GetUtcNow();
            return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerSecond));
        });

    /// <summary>The command; <paramref name="clock"/> gives the default end (now).</summary>
    public static Command Create(TimeProvider clock)
    {
        var history = new HistoryCommand(clock);
        var command = new Command("history",
            "Write a simulated fleet's heartbeat history as NDJSON for POST /api/import/heartbeats, with its ground truth (talks to no server).");
        foreach (var option in (Option[])[history._sensors, history._out, history._truth, history._manifest, history._prefix, history._sites,
            history._interval, history._jitter, history._lifespanShape, history._lifespanScale, history._end, history._span, history._installOver,
            history._decommissionedShare, history._announcingShare, history._flakyShare, history._precursor, history._noMetrics, history._seed])
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, _) => SimulatorCommands.RunAsync(() =>
        {
            var options = history.Bind(parse);
            var summary = HistoryGeneration.WriteFiles(options);
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine(summary.ToString());
            output.WriteLine($"  heartbeats: {options.HistoryFile}");
            output.WriteLine($"  ground truth: {options.TruthFile}");
            if (options.ManifestFile is { } manifest)
            {
                output.WriteLine($"  manifest: {manifest}");
            }

            return Task.CompletedTask;
        }, parse.InvocationConfiguration.Error));
        return command;
    }

    private HistoryOptions Bind(ParseResult result) => new()
    {
        Sensors = result.GetValue(_sensors),
        HistoryFile = result.GetValue(_out) ?? "",
        TruthFile = result.GetValue(_truth) ?? "",
        ManifestFile = result.GetValue(_manifest),
        Prefix = result.GetValue(_prefix) ?? "",
        Sites = result.GetValue(_sites),
        Interval = result.GetValue(_interval) ?? TimeSpan.FromHours(1),
        Jitter = result.GetValue(_jitter),
        LifespanShape = result.GetValue(_lifespanShape),
        LifespanScale = result.GetValue(_lifespanScale) ?? TimeSpan.FromDays(365),
        End = result.GetValue(_end) ?? _now.Value,
        Span = result.GetValue(_span) ?? TimeSpan.FromDays(365),
        InstallOver = result.GetValue(_installOver) ?? TimeSpan.FromDays(180),
        DecommissionedShare = result.GetValue(_decommissionedShare),
        AnnouncingShare = result.GetValue(_announcingShare),
        FlakyShare = result.GetValue(_flakyShare),
        Precursor = result.GetValue(_precursor) ?? TimeSpan.FromDays(14),
        Metrics = !result.GetValue(_noMetrics),
        Seed = result.GetValue(_seed) ?? Random.Shared.Next(),
    };

    private static DateTimeOffset? ParseTime(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
        {
            return time;
        }

        result.AddError($"'{text}' is not a time: use ISO 8601, e.g. 2026-03-01T00:00:00Z.");
        return null;
    }
}
