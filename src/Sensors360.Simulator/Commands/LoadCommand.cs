using System.CommandLine;
using Sensors360.Simulator.Load;
using Sensors360.Simulator.Status;

namespace Sensors360.Simulator.Commands;

/// <summary>The <c>load</c> command: a load generator with a fixed rate or as fast as possible.</summary>
internal sealed class LoadCommand
{
    private readonly ServerOptions _server = new(defaultPrefix: "load-", defaultTags: ["load"]);
    private readonly Option<double?> _rate = new("--rate") { Description = "Send at this fixed rate (requests/s), latency measured from each request's intended send time.", HelpName = "per-second" };
    private readonly Option<bool> _max = new("--max") { Description = "Send as fast as the concurrency allows (closed loop)." };
    private readonly Option<int> _concurrency = new("--concurrency") { Description = "At most this many requests in flight and connections open.", DefaultValueFactory = _ => 64 };
    private readonly Option<TimeSpan?> _duration = DurationOption.Create("--duration", "How long to send [default: 30s]; Ctrl+C stops early.");
    private readonly Option<int> _sensors = new("--sensors") { Description = "How many sensors to send for, in turn (provisioned or reused unless --no-auth).", DefaultValueFactory = _ => 100 };
    private readonly Option<string> _urlPath = new("--url-path") { Description = "The request path; {id} becomes the sensor's id.", DefaultValueFactory = _ => LoadOptions.HeartbeatPath };
    private readonly Option<bool> _noAuth = new("--no-auth") { Description = "Send no bearer token and provision nothing (for bench-only endpoints)." };
    private readonly Option<bool> _metrics = new("--metrics") { Description = "Send a metrics body with each request (default: no body)." };
    private readonly Option<TimeSpan?> _threshold = DurationOption.Create("--threshold", "The silenceThresholdSeconds new sensors are provisioned with [default: 60].");
    private readonly Option<TimeSpan?> _timeout = DurationOption.Create("--timeout", "How long a request may take before it counts as a transport error [default: 10s].");
    private readonly Option<string?> _json = new("--json") { Description = "Write the result to this JSON file.", HelpName = "file" };
    private readonly Option<string?> _intervals = new("--intervals") { Description = "Write one JSON line per --interval to this file: that interval's answers, failures and latency, so a long run shows drift.", HelpName = "file" };
    private readonly Option<TimeSpan?> _interval = DurationOption.Create("--interval", "The length of each --intervals line [default: 60s].");

    public static Command Create()
    {
        var load = new LoadCommand();
        var command = new Command("load", "Load generator: heartbeats at a fixed rate (--rate) or as fast as possible (--max); reports rate, latency percentiles and every non-2xx.");
        load._server.AddTo(command);
        foreach (var option in (Option[])[load._rate, load._max, load._concurrency, load._duration, load._sensors, load._urlPath, load._noAuth,
            load._metrics, load._threshold, load._timeout, load._json, load._intervals, load._interval])
        {
            command.Options.Add(option);
        }

        command.Validators.Add(result =>
        {
            if ((result.GetResult(load._rate) is null) == (result.GetResult(load._max) is null))
            {
                result.AddError("Give exactly one of --rate R and --max.");
            }
        });
        command.SetAction((parse, cancellationToken) => SimulatorCommands.RunAsync(
            () => LoadGenerator.RunAsync(load.Bind(parse), StatusLine.ForConsole(), TimeProvider.System, cancellationToken)));
        return command;
    }

    private LoadOptions Bind(ParseResult parse) => new()
    {
        Access = _server.Access(parse),
        Prefix = _server.Prefix(parse),
        Tags = _server.Tags(parse),
        Rate = parse.GetValue(_max) ? null : parse.GetValue(_rate),
        Concurrency = parse.GetValue(_concurrency),
        Duration = parse.GetValue(_duration) ?? TimeSpan.FromSeconds(30),
        Sensors = parse.GetValue(_sensors),
        UrlPath = parse.GetValue(_urlPath)!,
        NoAuth = parse.GetValue(_noAuth),
        Metrics = parse.GetValue(_metrics),
        SilenceThresholdSeconds = (int)(parse.GetValue(_threshold) ?? TimeSpan.FromSeconds(60)).TotalSeconds,
        Timeout = parse.GetValue(_timeout) ?? TimeSpan.FromSeconds(10),
        JsonFile = parse.GetValue(_json),
        IntervalsFile = parse.GetValue(_intervals),
        Interval = parse.GetValue(_interval) ?? TimeSpan.FromSeconds(60),
    };
}
