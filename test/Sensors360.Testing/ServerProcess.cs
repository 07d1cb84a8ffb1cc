using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;

namespace Sensors360.Testing;

/// <summary>
/// The real server, started as an operator would start it (<c>dotnet Sensors360.Server.dll</c>), on free
/// ports, configured through environment variables only.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly SelfSignedCertificate? _certificate;
    private HttpClient? _operator;

    private ServerProcess(Process process, Uri baseAddress, int siloPort, string adminPassword, SelfSignedCertificate? certificate)
    {
        _process = process;
        BaseAddress = baseAddress;
        SiloPort = siloPort;
        AdminPassword = adminPassword;
        _certificate = certificate;
        Http = new HttpClient(NewHandler(new System.Net.CookieContainer())) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri BaseAddress { get; }

    public int SiloPort { get; }

    /// <summary>An HTTP client without a session.</summary>
    public HttpClient Http { get; }

    /// <summary>The bootstrap password of the <c>admin</c> operator (used when the database has no operator yet).</summary>
    public string AdminPassword { get; }

    /// <summary>Everything the process wrote to stdout and stderr so far.</summary>
    public IReadOnlyList<string> Output => [.. _output];

    public bool HasExited => _process.HasExited;

    public int ProcessId => _process.Id;

    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// Starts a server. <paramref name="environment"/> adds to or overrides the defaults (null removes);
    /// <paramref name="arguments"/> go on its command line (e.g. <c>migrate</c>). The gateway stays off,
    /// as in production, unless a test sets <c>Sensors360__Cluster__GatewayPort</c>. With
    /// <paramref name="https"/> it serves https only, with that certificate, and this object's clients trust it.
    /// <paramref name="ports"/> (HTTP, silo) are free ones unless given, e.g. to start a silo again where a load
    /// balancer expects it.
    /// </summary>
    public static ServerProcess Start(
        string? connectionString,
        string clusterId,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? adminPassword = null,
        IReadOnlyList<string>? arguments = null,
        SelfSignedCertificate? https = null,
        (int Http, int Silo)? ports = null)
    {
        var scheme = https is null ? "http" : "https";
        adminPassword ??= Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(18));
        var httpPort = ports?.Http ?? FreePort.Next();
        var siloPort = ports?.Silo ?? FreePort.Next();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Sensors360.Server.dll"));
        foreach (var argument in arguments ?? [])
        {
            start.ArgumentList.Add(argument);
        }

        var variables = new Dictionary<string, string?>
        {
            ["ASPNETCORE_URLS"] = $"{scheme}://127.0.0.1:{httpPort}",
            ["Kestrel__Certificates__Default__Path"] = https?.Path,
            ["Kestrel__Certificates__Default__Password"] = https?.Password,
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["ConnectionStrings__Postgres"] = connectionString,
            ["Sensors360__Cluster__ClusterId"] = clusterId,
            ["Sensors360__Cluster__ServiceId"] = clusterId,
            ["Sensors360__Cluster__SiloPort"] = siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Sensors360__Cluster__AdvertisedAddress"] = "127.0.0.1",
            ["Logging__LogLevel__Default"] = "Information",
            ["Sensors360__Bootstrap__AdminPassword"] = adminPassword,
            // Tests drive single sensors far faster than real ones (bursts, load runs); the limit's own tests pass null
            // here to get the server's default.
            ["Sensors360__Ingest__MaxHeartbeatsPerSecond"] = "100000",
            // No load balancer in front to wait for: a stop drains at once. The cluster tests set a real delay.
            ["Sensors360__Http__DrainDelay"] = "00:00:00",
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            variables[name] = value;
        }

        foreach (var (name, value) in variables)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var server = new ServerProcess(process, new Uri($"{scheme}://127.0.0.1:{httpPort}"), siloPort, adminPassword, https);
        process.OutputDataReceived += (_, line) => server.Collect(line.Data);
        process.ErrorDataReceived += (_, line) => server.Collect(line.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    /// <summary>Waits until <c>/readyz</c> answers 200; fails with the server's output if it exits first.</summary>
    public async Task WaitUntilReadyAsync()
    {
        try
        {
            await Eventually.TrueAsync(
                async () =>
                {
                    if (_process.HasExited)
                    {
                        throw new InvalidOperationException($"The server exited with {_process.ExitCode}:\n{string.Join('\n', Output)}");
                    }

                    try
                    {
                        using var response = await Http.GetAsync(new Uri("/readyz", UriKind.Relative));
                        return response.IsSuccessStatusCode;
                    }
                    catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
                    {
                        // Too busy starting to answer within the client's timeout (a loaded machine): ask again.
                        return false;
                    }
                },
                // Generous: on a loaded machine a fresh database's migrations and the silo's start take a while.
                TimeSpan.FromSeconds(120),
                $"server {BaseAddress} ready");
        }
        catch (TimeoutException e)
        {
            // Where start-up stood says why it never got ready.
            throw new TimeoutException($"{e.Message}\nIts last output:\n{string.Join('\n', Output.TakeLast(40))}", e);
        }
    }

    /// <summary>The session cookie of the bootstrap admin, e.g. for a WebSocket client.</summary>
    public async Task<System.Net.CookieContainer> LoginCookiesAsync()
    {
        var cookies = new System.Net.CookieContainer();
        using var client = await LoginAsync(cookies: cookies);
        return cookies;
    }

    /// <summary>This server's own origin (scheme://host:port), as its page would send in <c>Origin</c>.</summary>
    public string Origin => BaseAddress.GetLeftPart(UriPartial.Authority);

    /// <summary>
    /// A handler for clients of this server: with <paramref name="cookies"/> it keeps them (else none); over
    /// https it trusts exactly this server's certificate.
    /// </summary>
    public HttpClientHandler NewHandler(System.Net.CookieContainer? cookies = null)
    {
        var handler = new HttpClientHandler { AllowAutoRedirect = false };
        if (cookies is null)
        {
            handler.UseCookies = false;
        }
        else
        {
            handler.CookieContainer = cookies;
        }

        if (_certificate is { } certificate)
        {
            handler.ServerCertificateCustomValidationCallback = (_, presented, _, _) => certificate.IsPresentedBy(presented);
        }

        return handler;
    }

    /// <summary>
    /// A client with its own cookie jar, logged in as the bootstrap admin. It sends this server's
    /// <see cref="Origin"/> with every request, as the page does, so its changes pass the cross-site check.
    /// <paramref name="timeout"/> bounds each request (30 s unless a test sends something as large as a history).
    /// </summary>
    public async Task<HttpClient> LoginAsync(
        string username = "admin", string? password = null, System.Net.CookieContainer? cookies = null, TimeSpan? timeout = null)
    {
        var client = new HttpClient(NewHandler(cookies ?? new System.Net.CookieContainer()))
        {
            BaseAddress = BaseAddress,
            Timeout = timeout ?? TimeSpan.FromSeconds(30),
        };
        client.DefaultRequestHeaders.Add("Origin", Origin);
        using var response = await client.PostAsJsonAsync(new Uri("/api/auth/login", UriKind.Relative), new { username, password = password ?? AdminPassword });
        if (!response.IsSuccessStatusCode)
        {
            client.Dispose();
            throw new InvalidOperationException($"Login as {username} failed with {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        return client;
    }

    public async Task<ClusterResponse> GetClusterAsync()
    {
        // One session for all polls: logging in per poll would trip the login rate limit.
        _operator ??= await LoginAsync();
        return await _operator.GetFromJsonAsync<ClusterResponse>(new Uri("/api/cluster", UriKind.Relative))
            ?? throw new InvalidOperationException("/api/cluster returned null");
    }

    /// <summary>Waits for the process to end by itself and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        // The parameterless wait also waits for the output events to drain, so Output is complete.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Waits until a line of the output after its first <paramref name="after"/> contains <paramref name="text"/>.</summary>
    public Task LoggedAsync(string text, string what, TimeSpan timeout, int after = 0) =>
        Eventually.TrueAsync(() => Task.FromResult(Output.Skip(after).Any(line => line.Contains(text, StringComparison.Ordinal))), timeout, what);

    /// <summary>Asks the server to shut down as Ctrl+C or a service manager would, and waits for it.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            _ = Signals.Send(_process.Id, Signals.Term);
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                throw new TimeoutException($"The server did not stop within 30 s of SIGTERM:\n{string.Join('\n', Output)}");
            }
        }
    }

    /// <summary>Sends SIGTERM, as a service manager does to stop a server, and returns at once (the drain runs on).</summary>
    public void Terminate()
    {
        if (!_process.HasExited && Signals.Send(_process.Id, Signals.Term) != 0)
        {
            throw new InvalidOperationException($"Could not send SIGTERM to the server (pid {_process.Id}): errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    /// <summary>Kills the process with SIGKILL (kill -9), as a crash or a lost machine would end it: nothing runs after.</summary>
    public void KillAbruptly()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _operator?.Dispose();
            Http.Dispose();
            _process.Dispose();
        }
    }

    private void Collect(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
        }
    }
}

public sealed record ClusterResponse(IReadOnlyList<SiloResponse> Silos);

public sealed record SiloResponse(string Address, string HostName, string Status);
