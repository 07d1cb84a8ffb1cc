using System.Globalization;
using Sensors360.Simulator.Fleet;

namespace Sensors360.Simulator.History;

/// <summary>Receives a sensor's heartbeats in time order as <see cref="HistoryModel.Play"/> makes them.</summary>
internal interface IHeartbeatSink
{
    /// <summary>A heartbeat at <paramref name="at"/> (ms since the epoch); battery in thousandths, temperature in tenths of °C.</summary>
    void Beat(SensorLife life, long at, int batteryPerMille, int temperatureDeciC);
}

/// <summary>
/// A fleet's past as a pure model: it draws each sensor's life and plays its heartbeats from installation
/// to death, decommissioning or the end of the history. No clock of its own and no I/O; every random draw
/// comes from the seed, and each sensor has its own random source drawn from it, so sensor n's history is
/// the same whatever the size of the fleet.
/// </summary>
/// <remarks>
/// Sensors are installed uniformly over <see cref="HistoryOptions.InstallOver"/>, starting
/// <see cref="HistoryOptions.Span"/> before <see cref="HistoryOptions.End"/>, and report every interval ±
/// jitter. An announcing sensor's last days (its precursor) get worse as its death nears: with progress p
/// going from 0 to 1 over the precursor, waits stretch by up to 2p and a beat is missed with chance 0.9·p³,
/// so beats turn late first and then go missing. A flaky sensor misses 3 % of its beats and, after one
/// beat in 200, falls quiet for 3–20 intervals, all its life, so silence alone does not mean death. The
/// battery drains on its own schedule and is swapped when low, so no metric tells when a sensor dies.
/// </remarks>
internal sealed class HistoryModel
{
    private const double FlakyMissChance = 0.03;
    private const double FlakyGapChance = 0.005;
    private const double PrecursorMaxMissChance = 0.9;
    private const double PrecursorMaxStretch = 2;
    private const double BatterySwapLevel = 0.1;
    private const double MillisecondsPerDay = 86_400_000;

    /// <summary>About 30,000 years: longer draws change nothing in a history and would overflow the arithmetic.</summary>
    private const double LongestLifespan = 1e15;

    private readonly HistoryOptions _options;
    private readonly Lifespans _lifespans;
    private readonly Random _seeds;
    private readonly long _end;
    private readonly long _windowStart;
    private readonly double _installOver;
    private readonly double _interval;
    private int _drawn;

    public HistoryModel(HistoryOptions options)
    {
        options.Validate();
        _options = options;
        _lifespans = new Lifespans(options.LifespanShape, options.LifespanScale);
        _seeds = new Random(options.Seed);
        _end = options.End.ToUnixTimeMilliseconds();
        _windowStart = _end - (long)options.Span.TotalMilliseconds;
        _installOver = options.InstallOver.TotalMilliseconds;
        _interval = options.Interval.TotalMilliseconds;
    }

    /// <summary>The next sensor's life (ids numbered from 00001), not yet played.</summary>
    public SensorLife Draw()
    {
        var number = ++_drawn;
        var random = new Random(_seeds.Next());
        var installedAt = _windowStart + (long)(random.NextDouble() * _installOver);
        var lifespan = (long)Math.Max(1, Math.Ceiling(Math.Min(_lifespans.DrawSeconds(random) * 1000, LongestLifespan)));
        // Every draw is made for every sensor, so one option's value does not shift the others' draws.
        var decommissioned = random.NextDouble() < _options.DecommissionedShare;
        var decommissionAge = (long)Math.Max(1, random.NextDouble() * lifespan);
        var flaky = random.NextDouble() < _options.FlakyShare;
        var announcing = random.NextDouble() < _options.AnnouncingShare;
        // Capped at half the life, so even a short-lived announcing sensor shows a normal start to compare with.
        var precursor = (long)Math.Min(_options.Precursor.TotalMilliseconds * (0.5 + random.NextDouble()), lifespan / 2.0);
        var model = random.NextDouble() < 0.6 ? "model-a" : "model-b";
        var site = 1 + random.Next(_options.Sites);
        return new SensorLife
        {
            Id = _options.Prefix + number.ToString("00000", CultureInfo.InvariantCulture),
            Model = model,
            Site = site,
            InstalledAt = installedAt,
            TrueLifespan = lifespan,
            DecommissionAt = decommissioned ? installedAt + decommissionAge : null,
            Flaky = flaky,
            Announcing = announcing,
            Precursor = announcing ? precursor : 0,
            BatteryAtInstall = 0.9 + (0.1 * random.NextDouble()),
            BatteryLife = _options.LifespanScale.TotalMilliseconds * (0.5 + (1.5 * random.NextDouble())),
            BaseTemperatureC = 18 + (24 * random.NextDouble()),
            Random = random,
        };
    }

    /// <summary>
    /// Plays <paramref name="life"/>: sends its heartbeats to <paramref name="sink"/> in time order and
    /// records its cause, first and last heartbeat and count.
    /// </summary>
    public void Play(SensorLife life, IHeartbeatSink sink)
    {
        var random = life.Random;
        var stopAt = life.DecommissionAt ?? life.DeathAt;
        life.Cause = stopAt > _end ? HistoryCause.Alive : life.DecommissionAt is null ? HistoryCause.Failed : HistoryCause.Decommissioned;
        // Nothing at or after its death, nothing after the end.
        var lastPossible = Math.Min(stopAt - 1, _end);
        var precursorStart = life.DeathAt - life.Precursor;
        var batteryFrom = life.BatteryAtInstall;
        var batterySince = life.InstalledAt;

        var at = life.InstalledAt;
        life.FirstHeartbeatAt = at;
        while (at <= lastPossible)
        {
            var progress = life.Announcing && at > precursorStart ? (double)(at - precursorStart) / life.Precursor : 0;
            // The installation beat is always sent: commissioning waits for it.
            var missed = at != life.InstalledAt
                && ((life.Flaky && random.NextDouble() < FlakyMissChance)
                    || (progress > 0 && random.NextDouble() < PrecursorMaxMissChance * progress * progress * progress));
            if (!missed)
            {
                var battery = batteryFrom - ((batteryFrom - BatterySwapLevel) * (at - batterySince) / life.BatteryLife);
                if (battery <= BatterySwapLevel)
                {
                    batteryFrom = battery = 0.9 + (0.1 * random.NextDouble());
                    batterySince = at;
                }

                battery += 0.003 * (random.NextDouble() + random.NextDouble() - 1);
                var temperature = life.BaseTemperatureC
                    + (3 * Math.Sin(2 * Math.PI * (at % (long)MillisecondsPerDay) / MillisecondsPerDay))
                    + (1.5 * (random.NextDouble() + random.NextDouble() - 1));
                sink.Beat(life, at, (int)Math.Round(Math.Clamp(battery, 0, 1) * 1000), (int)Math.Round(temperature * 10));
                life.LastHeartbeatAt = at;
                life.Heartbeats++;
            }

            var wait = _interval * (1 + (_options.Jitter * ((2 * random.NextDouble()) - 1)));
            if (progress > 0)
            {
                wait *= 1 + (PrecursorMaxStretch * progress * random.NextDouble());
            }

            if (life.Flaky && random.NextDouble() < FlakyGapChance)
            {
                wait += _interval * (3 + (17 * random.NextDouble()));
            }

            at += Math.Max(1, (long)Math.Round(wait));
        }
    }
}
