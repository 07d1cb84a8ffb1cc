using Sensors360.Simulator.Server;

namespace Sensors360.Simulator.Load;

/// <summary>Everything a load run is told on the command line.</summary>
internal sealed record LoadOptions
{
    public const string HeartbeatPath = "/api/sensors/{id}/heartbeat";

    public required ServerAccess Access { get; init; }

    /// <summary>The fixed target rate in requests per second; null sends as fast as the concurrency allows.</summary>
    public double? Rate { get; init; }

    /// <summary>At most this many requests in flight (and connections open).</summary>
    public int Concurrency { get; init; } = 64;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);

    public int Sensors { get; init; } = 100;

    /// <summary>The request path; <c>{id}</c> becomes each sensor's id.</summary>
    public string UrlPath { get; init; } = HeartbeatPath;

    /// <summary>Send no bearer token, and so provision nothing (for bench-only endpoints).</summary>
    public bool NoAuth { get; init; }

    public bool Metrics { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    public string Prefix { get; init; } = "load-";

    public IReadOnlyList<string> Tags { get; init; } = ["load"];

    public int SilenceThresholdSeconds { get; init; } = 60;

    /// <summary>Where to write the result as JSON; null writes none.</summary>
    public string? JsonFile { get; init; }

    /// <summary>Where to write one JSON line per <see cref="Interval"/> (answers, failures, latency of that interval); null writes none.</summary>
    public string? IntervalsFile { get; init; }

    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(60);

    public void Validate()
    {
        Require(Rate is null or > 0 && double.IsFinite(Rate ?? 1), "--rate must be a positive number of requests per second");
        Require(Concurrency >= 1, "--concurrency must be at least 1");
        Require(Duration > TimeSpan.Zero, "--duration must be positive");
        Require(Sensors >= 1, "--sensors must be at least 1");
        Require(UrlPath.StartsWith('/'), "--url-path must start with '/', e.g. /bench/noop/{id}");
        Require(Timeout > TimeSpan.Zero, "--timeout must be positive");
        Require(SilenceThresholdSeconds >= 1, "--threshold must be at least 1 second");
        Require(Interval >= TimeSpan.FromSeconds(1), "--interval must be at least 1 second");
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new SimulatorException(message);
        }
    }
}
