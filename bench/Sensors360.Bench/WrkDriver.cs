using System.Diagnostics;
using System.Globalization;

namespace Sensors360.Bench;

/// <summary>One sensor the load names: its id and, for routes that check it, its bearer token.</summary>
internal sealed record LoadSensor(string Id, string Token);

/// <summary>
/// Runs <c>wrk</c> (Debian's package; a C client that takes far less CPU than a .NET one) against one route, closed
/// loop: each connection sends its next request when the last was answered. The requests are built once, in the
/// script's <c>setup</c>; a request's first send also cuts it from its thread's share, later ones only send. Thread k
/// of n sends sensors k, k + n, ... round-robin, so no sensor is sent two heartbeats at once unless one request
/// outlasts its thread's whole round (or there are fewer sensors than threads).
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

    // Each wrk thread runs the script in a Lua state of its own, and wrk starts each thread as soon as its setup and
    // init are done: work for a later thread is time the earlier ones send before the timed run starts. So the main
    // state reads the file once, in the first setup, before any thread runs, and hands each thread its share (lines
    // k, k + n, ...) as one string, which the thread splits as it first sends each request. The copy takes about
    // 0.1 s for 125,000 requests; a table of them took 0.3 s, and each thread reading the file in its init 2 s.
    private static string Script(string requestsFile, int threads) => $$"""
            local file = "{{requestsFile.Replace("\\", "\\\\", StringComparison.Ordinal)}}"
            local threads = {{Text(threads)}}
            local separator = "\1"
            local shares = nil
            local started = 0

            setup = function(thread)
              if shares == nil then
                -- wrk adds the Host header in each thread's init; these requests are made before that.
                local host = wrk.host:find(":") and ("[" .. wrk.host .. "]") or wrk.host
                if wrk.port then host = host .. ":" .. wrk.port end
                local lists = {}
                for k = 1, threads do lists[k] = {} end
                local all = {}
                for line in io.lines(file) do
                  local path, token = line:match("^(%S+) ?(%S*)$")
                  local headers = { Host = host }
                  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
                  all[#all + 1] = wrk.format("POST", path, headers, "")
                  local list = lists[(#all - 1) % threads + 1]
                  list[#list + 1] = all[#all]
                end
                shares = {}
                for k = 1, threads do
                  -- Fewer sensors than threads: the threads without one share them all.
                  shares[k] = table.concat(#lists[k] > 0 and lists[k] or all, separator) .. separator
                end
              end
              started = started + 1
              thread:set("share", shares[started])
            end

            -- wrk calls request() once in the first thread before the run, to check it: that request is sent after
            -- the thread's first round instead of first.
            local requests = {}
            local unsplit = 1
            local turn = 0

            request = function()
              if unsplit <= #share then
                local stop = share:find(separator, unsplit, true)
                requests[#requests + 1] = share:sub(unsplit, stop - 1)
                unsplit = stop + 1
                return requests[#requests]
              end
              turn = turn % #requests + 1
              return requests[turn]
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
