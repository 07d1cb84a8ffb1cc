using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Sensors360.Testing;

/// <summary>
/// HAProxy, the real load balancer, with the project's own configuration (<c>deploy/haproxy.cfg</c>, the file
/// <c>build.ps1 cluster</c> uses) in front of the given silos, on free loopback ports.
/// </summary>
public sealed partial class LoadBalancer : IAsyncDisposable
{
    /// <summary>Where Debian's package puts it.</summary>
    public const string Executable = "/usr/sbin/haproxy";

    /// <summary>The backend of the silos in deploy/haproxy.cfg.</summary>
    public const string Backend = "silos";

    private readonly DirectoryInfo _directory;
    private readonly string _configuration;
    private readonly int _statsPort;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly HttpClient _stats;
    private Process _process;

    private LoadBalancer(DirectoryInfo directory, string configuration, int port, int statsPort)
    {
        _directory = directory;
        _configuration = configuration;
        _statsPort = statsPort;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
        _stats = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{statsPort}"), Timeout = TimeSpan.FromSeconds(5) };
        _process = StartProcess();
    }

    /// <summary>deploy/haproxy.cfg as copied beside the test assemblies.</summary>
    public static string ConfigurationFile => Path.Combine(AppContext.BaseDirectory, "deploy", "haproxy.cfg");

    /// <summary>Where clients reach the silos through the balancer.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Everything HAProxy logged so far (silos going down and up).</summary>
    public IReadOnlyList<string> Output => [.. _output];

    /// <summary>The name HAProxy gives the silo at <paramref name="index"/> (0-based) of the list it was started with.</summary>
    public static string ServerName(int index) => $"silo{index + 1}";

    /// <summary>
    /// The configuration with one <c>server siloN address</c> line per silo, in the form of the file's first such
    /// line, in place of the file's own; every other line as it is. <c>build.ps1</c> does the same (Write-HaproxyConfig).
    /// </summary>
    public static string Render(string configuration, IReadOnlyList<string> silos)
    {
        ArgumentOutOfRangeException.ThrowIfZero(silos.Count);
        var text = new StringBuilder();
        var written = false;
        foreach (var line in configuration.ReplaceLineEndings("\n").Split('\n'))
        {
            var server = ServerLine().Match(line);
            if (!server.Success)
            {
                text.Append(line).Append('\n');
            }
            else if (!written)
            {
                for (var i = 0; i < silos.Count; i++)
                {
                    text.Append(server.Groups["head"].Value).Append(ServerName(i)).Append(server.Groups["gap"].Value)
                        .Append(silos[i]).Append(server.Groups["tail"].Value).Append('\n');
                }

                written = true;
            }
        }

        return written ? text.ToString().TrimEnd('\n') + "\n" : throw new InvalidOperationException("The configuration has no 'server silo1 <address>' line to repeat.");
    }

    /// <summary>Starts HAProxy in front of <paramref name="silos"/> (host:port each) and waits until it answers.</summary>
    public static async Task<LoadBalancer> StartAsync(IReadOnlyList<string> silos)
    {
        if (!File.Exists(Executable))
        {
            throw new InvalidOperationException(
                $"HAProxy is missing ({Executable}), and the cluster tests run behind it: `dotnet pwsh ./build.ps1 test` installs Debian's haproxy, or run `apt-get install haproxy`.");
        }

        var directory = Directory.CreateTempSubdirectory("sensors360-haproxy-");
        var configuration = Path.Combine(directory.FullName, "haproxy.cfg");
        await File.WriteAllTextAsync(configuration, Render(await File.ReadAllTextAsync(ConfigurationFile), silos));
        var balancer = new LoadBalancer(directory, configuration, FreePort.Next(), FreePort.Next());
        await balancer.WaitUntilAnsweringAsync();
        return balancer;
    }

    /// <summary>Kills HAProxy with SIGKILL: every connection through it breaks at once.</summary>
    public void KillAbruptly()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    /// <summary>Starts HAProxy again (after it was killed) with the same configuration and ports, and waits until it answers.</summary>
    public async Task StartAgainAsync()
    {
        _process.Dispose();
        _process = StartProcess();
        await WaitUntilAnsweringAsync();
    }

    private Process StartProcess()
    {
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // -db: in the foreground, logging to its stdout, ended with this process.
        foreach (var argument in (string[])["-db", "-f", _configuration])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["SENSORS360_LISTEN"] = $"127.0.0.1:{BaseAddress.Port}";
        start.Environment["SENSORS360_STATS"] = $"127.0.0.1:{_statsPort}";
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, line) => Collect(line.Data);
        process.ErrorDataReceived += (_, line) => Collect(line.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task WaitUntilAnsweringAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync();
                var failure = $"HAProxy exited with {_process.ExitCode}:\n{string.Join('\n', Output)}";
                await DisposeAsync();
                throw new InvalidOperationException(failure);
            }

            try
            {
                await ServerStatesAsync();
                return;
            }
            catch (HttpRequestException) when (deadline.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
            }
        }
    }

    /// <summary>Each silo's state as HAProxy's health checks see it (its stats page): "UP", "DOWN", "UP 1/2", …</summary>
    public async Task<IReadOnlyDictionary<string, string>> ServerStatesAsync()
    {
        var csv = await _stats.GetStringAsync(new Uri("/;csv", UriKind.Relative));
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var header = lines[0].TrimStart('#', ' ').Split(',');
        var (proxy, server, status) = (Array.IndexOf(header, "pxname"), Array.IndexOf(header, "svname"), Array.IndexOf(header, "status"));
        return lines.Skip(1)
            .Select(line => line.Split(','))
            .Where(fields => fields[proxy] == Backend && fields[server] is not ("FRONTEND" or "BACKEND"))
            .ToDictionary(fields => fields[server], fields => fields[status], StringComparer.Ordinal);
    }

    /// <summary>Waits until HAProxy holds <paramref name="server"/> in <paramref name="status"/> (exactly: "UP", "DOWN").</summary>
    public Task WaitForAsync(string server, string status, TimeSpan timeout) => Eventually.TrueAsync(
        async () => (await ServerStatesAsync()).GetValueOrDefault(server) == status,
        timeout,
        $"HAProxy holding {server} {status}");

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }
        finally
        {
            _stats.Dispose();
            _process.Dispose();
            _directory.Delete(recursive: true);
        }
    }

    private void Collect(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
        }
    }

    [GeneratedRegex(@"^(?<head>\s*server\s+)silo\d+(?<gap>\s+)\S+(?<tail>.*)$")]
    private static partial Regex ServerLine();
}
