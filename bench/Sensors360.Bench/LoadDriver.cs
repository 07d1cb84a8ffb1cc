using System.Diagnostics;
using System.Text.Json;

namespace Sensors360.Bench;

/// <summary>
/// One client run's numbers. <see cref="ServiceP99Ms"/> (from the actual send to the answer) and <see cref="MaxLagMs"/>
/// (the latest a send left behind its schedule) only from an open loop (<see cref="OpenLoopHeartbeats"/>, the simulator's
/// <c>load --rate</c>), whose latency counts from the intended send: they tell the client's own delay from the time
/// spent after the request left it.
/// </summary>
internal sealed record LoadNumbers(
    double SucceededRate, double AchievedRate, double P50Ms, double P99Ms, double P999Ms, long Errors, long Succeeded, double ElapsedSeconds,
    double? ServiceP99Ms = null, double? MaxLagMs = null);

/// <summary>Runs the simulator's load mode as its own process, the same client an operator would use.</summary>
internal sealed class LoadDriver(Uri server, string password, string stateFile, string workDirectory)
{
    private int _runs;

    /// <summary>One run; <paramref name="target"/>, another server than the one the sensors were provisioned on (a bare reference, with <c>--no-auth</c>).</summary>
    public async Task<LoadNumbers> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken, Uri? target = null)
    {
        var json = Path.Combine(workDirectory, $"load-{Interlocked.Increment(ref _runs)}.json");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])[Path.Combine(AppContext.BaseDirectory, "Sensors360.Simulator.dll"), "load",
            "--server", (target ?? server).ToString(), "--password", password, "--state", stateFile, "--json", json])
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the simulator.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0 || !File.Exists(json))
        {
            throw new InvalidOperationException($"simulator load {string.Join(' ', arguments)} failed ({process.ExitCode}): {await error}{await output}");
        }

        using var result = JsonDocument.Parse(await File.ReadAllTextAsync(json, cancellationToken));
        var root = result.RootElement;
        var latency = root.GetProperty("latencyMs");
        var statusErrors = root.GetProperty("statusCodes").EnumerateObject()
            .Where(status => !status.Name.StartsWith('2'))
            .Sum(status => status.Value.GetInt64());
        return new LoadNumbers(
            root.GetProperty("succeededRate").GetDouble(),
            root.GetProperty("achievedRate").GetDouble(),
            latency.GetProperty("p50").GetDouble(),
            latency.GetProperty("p99").GetDouble(),
            latency.GetProperty("p999").GetDouble(),
            statusErrors + root.GetProperty("transportErrorCount").GetInt64(),
            root.GetProperty("succeeded").GetInt64(),
            root.GetProperty("elapsedSeconds").GetDouble(),
            root.GetProperty("serviceTimeMs").GetProperty("p99").GetDouble(),
            root.GetProperty("maxLagMs").GetDouble());
    }
}
