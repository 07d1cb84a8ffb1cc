namespace Sensors360.Simulator.Fleet;

/// <summary>
/// How simulated sensors live and fail: a heartbeat every <see cref="Interval"/> ± <see cref="Jitter"/>,
/// a lifespan drawn from Weibull(<see cref="LifespanShape"/>, <see cref="LifespanScale"/>), a share of flaky
/// sensors that fall quiet for a while and come back, and optionally a crew that replaces the dead.
/// </summary>
internal sealed record FleetBehaviour
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Each wait is <see cref="Interval"/> × (1 ± up to this fraction).</summary>
    public double Jitter { get; init; } = 0.1;

    /// <summary>The silence threshold the sensors are provisioned with; flaky gaps are shorter and longer than it.</summary>
    public TimeSpan SilenceThreshold { get; init; } = TimeSpan.FromSeconds(60);

    public double LifespanShape { get; init; } = 1.5;

    public TimeSpan LifespanScale { get; init; } = TimeSpan.FromSeconds(600);

    /// <summary>The share of sensors (0–1) that are flaky.</summary>
    public double FlakyShare { get; init; } = 0.1;

    /// <summary>Whether dead sensors are retired and replaced by new ones, as a maintenance crew would.</summary>
    public bool Replace { get; init; }

    /// <summary>
    /// The chance that a flaky sensor falls quiet after a heartbeat: on average one gap per two thresholds of
    /// heartbeats, so each flaky sensor shows a few in a typical life.
    /// </summary>
    public double GapChance => Math.Clamp(Interval / (2 * SilenceThreshold), 0.01, 0.5);

    /// <summary>Throws when a value makes no sense, with the option's name.</summary>
    public void Validate()
    {
        Require(Interval > TimeSpan.Zero, "--interval must be positive");
        Require(Jitter is >= 0 and < 1, "--jitter must be at least 0 and below 1");
        Require(SilenceThreshold >= TimeSpan.FromSeconds(1) && SilenceThreshold.Ticks % TimeSpan.TicksPerSecond == 0, "--threshold must be whole seconds, at least 1");
        Require(LifespanShape > 0 && double.IsFinite(LifespanShape), "--lifespan-shape must be positive");
        Require(LifespanScale > TimeSpan.Zero, "--lifespan-scale must be positive");
        Require(FlakyShare is >= 0 and <= 1, "--flaky-share must be between 0 and 1");
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new Server.SimulatorException(message);
        }
    }
}
