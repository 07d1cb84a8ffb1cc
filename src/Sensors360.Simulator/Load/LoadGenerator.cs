using System.Globalization;
using Sensors360.Simulator.Roster;
using Sensors360.Simulator.Server;
using Sensors360.Simulator.Status;

namespace Sensors360.Simulator.Load;

/// <summary>
/// The <c>load</c> command: provision or reuse the sensors (unless <c>--no-auth</c>), run the load, write
/// the JSON result, sum up.
/// </summary>
internal static class LoadGenerator
{
    public static async Task<LoadResult> RunAsync(LoadOptions options, StatusLine status, TimeProvider clock, CancellationToken cancellationToken)
    {
        options.Validate();
        var targets = options.NoAuth ? Unprovisioned(options) : await ProvisionAsync(options, cancellationToken);
        using var transport = new HttpHeartbeatTransport(maxConnections: options.Concurrency, options.Timeout);
        status.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"load: {(options.Rate is { } rate ? $"{rate:0.##} requests/s" : "as fast as possible")} with concurrency {options.Concurrency} for {Durations.Format(options.Duration)} to {new Uri(options.Access.Server, options.UrlPath.Replace("{id}", "…", StringComparison.Ordinal))}, {targets.Count} sensors"));

        var result = await new LoadRun(options, targets, transport, clock, status).RunAsync(cancellationToken);
        if (options.JsonFile is { } json)
        {
            result.WriteJson(json);
        }

        status.WriteLine(result.ToString());
        if (options.JsonFile is { } written)
        {
            status.WriteLine($"  result: {written}");
        }

        return result;
    }

    /// <summary>The target of a sensor: the path template with its id filled in.</summary>
    public static Uri TargetUri(Uri server, string urlPath, string id) =>
        new(server, urlPath.Replace("{id}", Uri.EscapeDataString(id), StringComparison.Ordinal));

    private static async Task<IReadOnlyList<LoadTarget>> ProvisionAsync(LoadOptions options, CancellationToken cancellationToken)
    {
        var roster = SensorRoster.Load(options.Access.StateFile);
        using var administration = await OperatorSession.LoginAsync(options.Access, cancellationToken);
        var provisioning = new RosterProvisioning(roster, administration, options.Prefix, options.Tags, options.SilenceThresholdSeconds);
        var sensors = await provisioning.EnsureAsync(options.Sensors, cancellationToken);
        return [.. sensors.Select(sensor => new LoadTarget(TargetUri(options.Access.Server, options.UrlPath, sensor.Id), sensor.Token))];
    }

    /// <summary>Without tokens nothing is provisioned: the ids are just <c>{prefix}00001</c> and on.</summary>
    private static IReadOnlyList<LoadTarget> Unprovisioned(LoadOptions options) =>
        [.. Enumerable.Range(1, options.Sensors).Select(number =>
            new LoadTarget(TargetUri(options.Access.Server, options.UrlPath, string.Create(CultureInfo.InvariantCulture, $"{options.Prefix}{number:00000}")), null))];
}
