using System.Diagnostics;
using System.Globalization;

namespace Sensors360.Bench;

/// <summary>One sensor the load names: its id and, for routes that check it, its bearer token.</summary>
internal sealed record LoadSensor(string Id, string Token);

/// <summary>
/// Runs <c>wrk</c> (Debian's package; a C client that takes far less CPU than a .NET one) against one route, closed
/// loop: each connection sends its next request when the last was answered. The requests are built once, in the
/// script's <c>init</c>, so the client spends nothing per request but the send; sensors are taken round-robin, the
/// threads taking turns (thread k of n sends sensors k, k + n, ...), so no sensor is sent two heartbeats at once.
/// </summary>
internal sealed class WrkDriver(string wrk, string workDirectory, int threads, int connections)
{
    private const string ResultMarker = "WRK-RESULT";
    private int _runs;

    /// <summary>
    /// <paramref name="pathTemplate"/> holds <c>{id}</c>; with <paramref name="withToken"/> each request carries its
    /// sensor's token. Every request is a POST with an empty body (<c>Content-Length: 0</c>), as a sensor sends.
    /// </summary>
    public async Task<LoadNumbers> RunAsync(
        Uri server, string pathTemplate, bool withToken, IReadOnlyList<LoadSensor> sensors, TimeSpan duration, CancellationToken cancellationToken)
    {
        var run = Interlocked.Increment(ref _runs);
        var script = Path.Combine(workDirectory, $"wrk-{run}.lua");
        // The requests as data, one "path token" a line: a script with 250,000 literals is more than Lua will compile.
        var requestsFile = Path.Combine(workDirectory, $"wrk-{run}.txt");
        await File.WriteAllLinesAsync(requestsFile, sensors.Select(sensor =>
            $"{pathTemplate.Replace("{id}", sensor.Id, StringComparison.Ordinal)} {(withToken ? sensor.Token : "")}"), cancellationToken);
        await File.WriteAllTextAsync(script, Script(requestsFile, threads), cancellationToken);
        var start = new ProcessStartInfo(wrk) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["-t", Text(threads), "-c", Text(connections), "-d", $"{Text(Math.Max(1, (int)duration.TotalSeconds))}s",
            "--timeout", "5s", "-s", script, server.GetLeftPart(UriPartial.Authority) + "/"])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {wrk}.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        var line = (await output).Split('\n').FirstOrDefault(text => text.StartsWith(ResultMarker, StringComparison.Ordinal));
        if (process.ExitCode != 0 || line is null)
        {
            throw new InvalidOperationException($"wrk against {pathTemplate} failed ({process.ExitCode}): {await error}{await output}");
        }

        // requests, duration µs, connect/read/write/status/timeout errors, p50/p99/p99.9 µs
        var fields = line[ResultMarker.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(field => double.Parse(field, CultureInfo.InvariantCulture)).ToArray();
        var requests = (long)fields[0];
        var seconds = fields[1] / 1e6;
        var errors = (long)(fields[2] + fields[3] + fields[4] + fields[5] + fields[6]);
        var succeeded = requests - (long)fields[5];
        return new LoadNumbers(succeeded / seconds, requests / seconds, fields[7] / 1000, fields[8] / 1000, fields[9] / 1000, errors, succeeded, seconds);
    }

    // Each wrk thread runs the script in a Lua state of its own; setup (in the main state) gives each its number.
    private static string Script(string requestsFile, int threads) => $$"""
            local file = "{{requestsFile.Replace("\\", "\\\\", StringComparison.Ordinal)}}"
            local requests = {}
            local threads = {{Text(threads)}}
            local started = 0
            local turn = 0

            setup = function(thread)
              thread:set("first", started)
              started = started + 1
            end

            init = function(args)
              for line in io.lines(file) do
                local path, token = line:match("^(%S+) ?(%S*)$")
                local headers = {}
                if token ~= "" then headers["Authorization"] = "Bearer " .. token end
                requests[#requests + 1] = wrk.format("POST", path, headers, "")
              end
              turn = first % #requests
            end

            request = function()
              local this = requests[turn + 1]
              turn = (turn + threads) % #requests
              return this
            end

            done = function(summary, latency, requests)
              local e = summary.errors
              io.write(string.format("{{ResultMarker}} %d %d %d %d %d %d %d %.1f %.1f %.1f\n",
                summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
                latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
            end

            """;

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
