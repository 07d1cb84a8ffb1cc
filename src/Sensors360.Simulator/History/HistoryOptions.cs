using System.Text.RegularExpressions;
using Sensors360.Simulator.Server;

namespace Sensors360.Simulator.History;

/// <summary>
/// Everything the <c>history</c> command is told: the fleet's size and ids, its failure model, the window
/// of time the history covers and where to write it. Times are whole milliseconds, as the files show them.
/// </summary>
internal sealed partial record HistoryOptions
{
    public int Sensors { get; init; } = 100;

    public string Prefix { get; init; } = "hist-";

    /// <summary>How many sites the sensors are spread over (tags <c>site-1</c> … in the manifest).</summary>
    public int Sites { get; init; } = 10;

    public TimeSpan Interval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Each wait is <see cref="Interval"/> × (1 ± up to this fraction).</summary>
    public double Jitter { get; init; } = 0.1;

    public double LifespanShape { get; init; } = 1.5;

    public TimeSpan LifespanScale { get; init; } = TimeSpan.FromDays(365);

    /// <summary>The history ends here: no heartbeat after it; sensors still alive then are censored.</summary>
    public required DateTimeOffset End { get; init; }

    /// <summary>How far back from <see cref="End"/> the history starts.</summary>
    public TimeSpan Span { get; init; } = TimeSpan.FromDays(365);

    /// <summary>Sensors are installed uniformly over this window, which opens <see cref="Span"/> before <see cref="End"/>.</summary>
    public TimeSpan InstallOver { get; init; } = TimeSpan.FromDays(180);

    /// <summary>The share of sensors an operator takes out of service at a random age before their death.</summary>
    public double DecommissionedShare { get; init; } = 0.05;

    /// <summary>The share of failures that announce themselves with late and missed heartbeats before death.</summary>
    public double AnnouncingShare { get; init; } = 0.5;

    /// <summary>The share of sensors that miss heartbeats and fall quiet now and then all their life.</summary>
    public double FlakyShare { get; init; } = 0.1;

    /// <summary>The mean length of an announcing failure's precursor; each sensor draws 0.5–1.5 × this.</summary>
    public TimeSpan Precursor { get; init; } = TimeSpan.FromDays(14);

    /// <summary>Whether heartbeats carry <c>battery</c> and <c>temperatureC</c>.</summary>
    public bool Metrics { get; init; } = true;

    public int Seed { get; init; }

    public string HistoryFile { get; init; } = "history.ndjson";

    public string TruthFile { get; init; } = "history-truth.csv";

    /// <summary>Where to write the sensors' ids and tags as JSON; null writes none.</summary>
    public string? ManifestFile { get; init; }

    /// <summary>Throws when a value makes no sense, naming the option.</summary>
    public void Validate()
    {
        Require(Sensors >= 1, "--sensors must be at least 1");
        // The ids must be ones the server accepts, so the import and the manifest need no translation.
        Require(SensorIdPrefix().IsMatch(Prefix) && Prefix.Length + Math.Max(5, Sensors.ToString(System.Globalization.CultureInfo.InvariantCulture).Length) <= 64,
            "--prefix may hold only A-Z a-z 0-9 . _ : - and, with the number, at most 64 characters");
        Require(Sites >= 1, "--sites must be at least 1");
        // Times are whole milliseconds; below a second, jittered beats could land on the same millisecond.
        Require(Interval >= TimeSpan.FromSeconds(1), "--interval must be at least 1s");
        Require(Jitter is >= 0 and < 1, "--jitter must be at least 0 and below 1");
        Require(LifespanShape > 0 && double.IsFinite(LifespanShape), "--lifespan-shape must be positive");
        Require(LifespanScale >= TimeSpan.FromSeconds(1), "--lifespan-scale must be at least 1s");
        Require(Span >= TimeSpan.FromSeconds(1), "--span must be at least 1s");
        Require(InstallOver <= Span, "--install-over must not be longer than --span");
        Require(DecommissionedShare is >= 0 and <= 1, "--decommissioned-share must be between 0 and 1");
        Require(AnnouncingShare is >= 0 and <= 1, "--announcing-share must be between 0 and 1");
        Require(FlakyShare is >= 0 and <= 1, "--flaky-share must be between 0 and 1");
        Require(Precursor >= TimeSpan.FromSeconds(1), "--precursor must be at least 1s");
        Require(End - Span >= DateTimeOffset.UnixEpoch, "--end minus --span must not be before 1970");
        Require(!string.IsNullOrWhiteSpace(HistoryFile), "--out must name a file");
        Require(!string.IsNullOrWhiteSpace(TruthFile), "--truth must name a file");
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new SimulatorException(message);
        }
    }

    [GeneratedRegex(@"^[A-Za-z0-9._:-]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex SensorIdPrefix();
}
