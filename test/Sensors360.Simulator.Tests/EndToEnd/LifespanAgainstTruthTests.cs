using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Simulator.History;
using Sensors360.Testing;

namespace Sensors360.Simulator.Tests.EndToEnd;

/// <summary>
/// The mean lifespan against a known truth: fleets simulated by the <c>history</c> command (lifespans from a
/// Weibull distribution, staggered installs, some decommissioned), imported through the API while about half
/// of each fleet is alive, and the server's estimate compared with the mean of the lifespans the simulator drew.
/// </summary>
public sealed class LifespanAgainstTruthTests(ThrowawayPostgres postgres) : IDisposable
{
    private const int Sensors = 2000;
    private static readonly TimeSpan Scale = TimeSpan.FromHours(100);
    private static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sensors360-lifespan-");

    [Fact]
    public async Task The_mean_lifespan_is_within_ten_percent_of_the_truth_while_half_the_fleet_is_alive()
    {
        var database = await PreparedDatabase.CreateAsync(postgres, nameof(The_mean_lifespan_is_within_ten_percent_of_the_truth_while_half_the_fleet_is_alive));
        await using var server = ServerProcess.Start(database, "lifespan-truth", new Dictionary<string, string?>
        {
            // A few missed beats are an outage; three hours of silence (three intervals) is a death.
            ["Sensors360__Analytics__PresumedDeadAfter"] = "03:00:00",
        });
        await server.WaitUntilReadyAsync();
        // Importing a history and training on it take longer than an ordinary request, the more so beside other tests.
        using var admin = await server.LoginAsync(timeout: HistoryImport.Patience);
        var end = DateTimeOffset.UtcNow;
        var report = new List<string>();

        // Install windows chosen so that about half of each fleet is still alive at the end.
        foreach (var (shape, window) in new[] { (0.8, 1.5), (1.5, 1.7), (3.0, 1.8) })
        {
            var tag = string.Create(CultureInfo.InvariantCulture, $"shape-{shape:0.0}");
            var truth = await ImportFleetAsync(admin, tag, shape, Scale * window, end);

            var lifespan = await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/analytics/lifespan?tag={tag}", UriKind.Relative), TestContext.Current.CancellationToken);

            Assert.Equal(Sensors, lifespan.GetProperty("sensors").GetInt32());
            var censored = lifespan.GetProperty("censored").GetInt32() / (double)Sensors;
            Assert.InRange(censored, 0.35, 0.65);
            var estimate = lifespan.GetProperty("meanSeconds").GetDouble();
            var naive = lifespan.GetProperty("naiveMeanSeconds").GetDouble();
            var ci = lifespan.GetProperty("meanCi95").EnumerateArray().Select(bound => bound.GetDouble()).ToArray();
            report.Add(string.Create(CultureInfo.InvariantCulture,
                $"shape {shape}: truth {truth / 3600:0.0} h, estimate {estimate / 3600:0.0} h ({lifespan.GetProperty("meanMethod").GetString()}, 95% {ci[0] / 3600:0.0}–{ci[1] / 3600:0.0}), naive {naive / 3600:0.0} h, censored {censored:P0}"));
            Assert.True(Math.Abs(estimate - truth) <= 0.1 * truth, string.Join("\n", report));
            // The old figure, the failed sensors' average, is further off every time, and far off unless lifespans are tightly clustered.
            Assert.True(Math.Abs(naive - truth) > Math.Abs(estimate - truth), string.Join("\n", report));
            if (shape < 2)
            {
                Assert.True(naive < 0.75 * truth, string.Join("\n", report));
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine(string.Join("\n", report));
    }

    /// <summary>Writes a fleet's history, provisions its sensors, imports it; returns the mean lifespan the simulator drew.</summary>
    private async Task<double> ImportFleetAsync(HttpClient admin, string tag, double shape, TimeSpan window, DateTimeOffset end)
    {
        var options = new HistoryOptions
        {
            Sensors = Sensors,
            Prefix = $"{tag}-",
            Interval = Interval,
            Jitter = 0.1,
            LifespanShape = shape,
            LifespanScale = Scale,
            End = end,
            Span = window,
            InstallOver = window,
            DecommissionedShare = 0.05,
            AnnouncingShare = 0.5,
            FlakyShare = 0,
            Precursor = TimeSpan.FromHours(5),
            Metrics = false,
            Seed = 360,
            HistoryFile = Path.Combine(_directory.FullName, $"{tag}.ndjson"),
            TruthFile = Path.Combine(_directory.FullName, $"{tag}.csv"),
        };
        var rows = await HistoryImport.ImportAsync(admin, options, tag);

        // The truth: the mean of the lifespans drawn for this fleet, including those not yet over.
        return rows.Average(row => double.Parse(row[8], CultureInfo.InvariantCulture));
    }

    public void Dispose() => _directory.Delete(recursive: true);
}
