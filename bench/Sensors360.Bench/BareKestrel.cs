using System.Diagnostics;
using Sensors360.Testing;

namespace Sensors360.Bench;

/// <summary>
/// A bare reference as its own process on a free port: the bare Kestrel (bench/Sensors360.BareKestrel), or with
/// <see cref="StartIngest"/> the bare durable ingest (bench/Sensors360.BareIngest).
/// </summary>
internal sealed class BareKestrel : IAsyncDisposable
{
    private readonly Process _process;

    private BareKestrel(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int ProcessId => _process.Id;

    /// <summary><paramref name="option"/>: e.g. <c>--security-headers</c> (see its Program.cs); <paramref name="environment"/>: e.g. runtime settings.</summary>
    public static BareKestrel Start(string? option = null, IReadOnlyDictionary<string, string>? environment = null) =>
        Start("Sensors360.BareKestrel.dll", option, environment);

    /// <summary>The bare durable ingest, writing into its own table of the heartbeat table's shape in <paramref name="database"/>.</summary>
    public static BareKestrel StartIngest(string database) => Start("Sensors360.BareIngest.dll", database, environment: null);

    private static BareKestrel Start(string program, string? argument, IReadOnlyDictionary<string, string>? environment)
    {
        var port = FreePort.Next();
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, program));
        start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (argument is not null)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start Sensors360.BareKestrel.");
        // Drained, so a full pipe never blocks it.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new BareKestrel(process, new Uri($"http://127.0.0.1:{port}"));
    }

    public Task WaitUntilReadyAsync(CancellationToken cancellationToken) => Eventually.TrueAsync(
        async () =>
        {
            using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
            try
            {
                using var response = await client.PostAsync(new Uri("/bench/noop/ready", UriKind.Relative), null, cancellationToken);
                return response.StatusCode == System.Net.HttpStatusCode.NoContent;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        },
        TimeSpan.FromSeconds(30),
        "the bare reference answering");

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
