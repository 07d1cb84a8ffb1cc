using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sensors360.Simulator.History;
using Sensors360.Testing;

namespace Sensors360.Simulator.Tests.EndToEnd;

/// <summary>
/// The at-risk ranking against a known future: fleets simulated by the <c>history</c> command up to now, imported
/// through the API, a model trained on them, and its ranking of the live sensors compared with the deaths the
/// simulator drew for the next horizon, which no heartbeat in the database shows.
/// </summary>
public sealed class FailurePredictionAgainstTruthTests(ThrowawayPostgres postgres) : IDisposable
{
    private const int Sensors = 1500;
    private const int HorizonHours = 48;
    private static readonly TimeSpan Horizon = TimeSpan.FromHours(HorizonHours);

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sensors360-at-risk-");

    [Fact]
    public async Task Failures_that_announce_themselves_are_caught_twice_as_often_as_by_age_and_validated_above_it()
    {
        var outcome = await RankAsync(nameof(Failures_that_announce_themselves_are_caught_twice_as_often_as_by_age_and_validated_above_it), announcingShare: 0.6, seed: 10, thenRestart: true);

        Assert.True(outcome.Failures >= 30, outcome.Report);
        Assert.True(outcome.CaughtByModel >= 2 * outcome.CaughtByAge, outcome.Report);
        Assert.True(outcome.ValidationAuc > outcome.AgeOnlyAuc, outcome.Report);
        // The top of the ranking says why: late and missing heartbeats, not age.
        Assert.Contains(outcome.TopDrivers, name => name is not "ageDays");
    }

    [Fact]
    public async Task Failures_that_announce_nothing_are_not_claimed_to_be_predicted_better_than_by_age()
    {
        var outcome = await RankAsync(nameof(Failures_that_announce_nothing_are_not_claimed_to_be_predicted_better_than_by_age), announcingShare: 0, seed: 11);

        Assert.True(outcome.Failures >= 30, outcome.Report);
        // Nothing in the heartbeats tells of a coming death, so what the model claims and what it catches stay at age's level.
        Assert.True(outcome.ValidationAuc <= outcome.AgeOnlyAuc + 0.05, outcome.Report);
        Assert.True(outcome.CaughtByModel < 2 * Math.Max(outcome.CaughtByAge, 1), outcome.Report);
    }

    /// <summary>Imports a fleet, trains, ranks and measures; with <paramref name="thenRestart"/>, then checks that a restarted server serves the same model at once.</summary>
    private async Task<Outcome> RankAsync(string name, double announcingShare, int seed, bool thenRestart = false)
    {
        var database = await PreparedDatabase.CreateAsync(postgres, name);
        var environment = new Dictionary<string, string?>
        {
            // Hourly heartbeats: six silent hours is a death, and the model looks two days ahead.
            ["Sensors360__Analytics__PresumedDeadAfter"] = "06:00:00",
            ["Sensors360__Analytics__HorizonHours__0"] = HorizonHours.ToString(CultureInfo.InvariantCulture),
        };
        await using var server = ServerProcess.Start(database, "at-risk", environment);
        await server.WaitUntilReadyAsync();
        // Importing a history and training on it take longer than an ordinary request, the more so beside other tests.
        using var admin = await server.LoginAsync(timeout: HistoryImport.Patience);
        var end = DateTimeOffset.UtcNow;
        var options = new HistoryOptions
        {
            Sensors = Sensors,
            Prefix = "risk-",
            Interval = TimeSpan.FromHours(1),
            Jitter = 0.1,
            LifespanShape = 1.5,
            LifespanScale = TimeSpan.FromDays(30),
            End = end,
            Span = TimeSpan.FromDays(60),
            InstallOver = TimeSpan.FromDays(60),
            DecommissionedShare = 0,
            AnnouncingShare = announcingShare,
            FlakyShare = 0.05,
            Precursor = TimeSpan.FromDays(4),
            Metrics = true,
            Seed = seed,
            HistoryFile = Path.Combine(_directory.FullName, $"{name}.ndjson"),
            TruthFile = Path.Combine(_directory.FullName, $"{name}.csv"),
        };
        var truth = (await HistoryImport.ImportAsync(admin, options, "risk")).ToDictionary(row => row[0]);

        using var trained = await admin.PostAsync(new Uri($"/api/analytics/at-risk/train?horizonHours={HorizonHours}", UriKind.Relative), null, TestContext.Current.CancellationToken);
        var model = await trained.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(trained.StatusCode == HttpStatusCode.OK, model.ToString());
        var ranking = await admin.GetFromJsonAsync<JsonElement>(
            new Uri($"/api/analytics/at-risk?horizonHours={HorizonHours}&limit=10000", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(Horizon.TotalSeconds, ranking.GetProperty("horizonSeconds").GetInt64());
        var ranked = ranking.GetProperty("sensors").EnumerateArray().ToList();

        // The truth of the next horizon: sensors alive at the end whose drawn death comes within it.
        var deathAt = truth.Values.ToDictionary(row => row[0], row => Instant(row[1]).AddSeconds(double.Parse(row[8], CultureInfo.InvariantCulture)));
        bool FailsNext(string id) => deathAt[id] > end && deathAt[id] <= end + Horizon;
        var live = ranked.Select(sensor => sensor.GetProperty("id").GetString()!).ToList();
        // Almost every sensor the truth calls alive is live to the server; the rest are in long silences, dying or flaky.
        Assert.InRange(live.Count, 0.9 * truth.Values.Count(row => row[4] == "alive"), truth.Count);

        var decile = (int)Math.Ceiling(live.Count / 10.0);
        var byModel = live.Take(decile).Count(FailsNext);
        var byAge = live.OrderBy(id => Instant(truth[id][1])).Take(decile).Count(FailsNext);
        var failures = live.Count(FailsNext);
        var topDrivers = ranked.Take(decile).SelectMany(sensor => sensor.GetProperty("drivers").EnumerateArray().Take(1)).Select(driver => driver.GetProperty("name").GetString()!).ToList();
        var summary = ranking.GetProperty("model");
        var report = string.Create(CultureInfo.InvariantCulture,
            $"{live.Count} live, {failures} fail within {HorizonHours} h; top {decile}: model catches {byModel}, age {byAge}; validation AUC {summary.GetProperty("validationAuc").GetDouble()}, age only {summary.GetProperty("ageOnlyAuc").GetDouble()}; trained on {summary.GetProperty("trainedOn").GetInt32()}; top drivers {string.Join(",", topDrivers.GroupBy(n => n).Select(g => $"{g.Key}×{g.Count()}"))}");
        TestContext.Current.TestOutputHelper?.WriteLine(report);
        if (thenRestart)
        {
            await server.StopAsync();
            await using var successor = ServerProcess.Start(database, "at-risk", environment, server.AdminPassword);
            await successor.WaitUntilReadyAsync();
            using var again = await successor.LoginAsync();
            var served = await again.GetFromJsonAsync<JsonElement>(
                new Uri($"/api/analytics/at-risk?horizonHours={HorizonHours}&limit={decile}", UriKind.Relative), TestContext.Current.CancellationToken);
            // The persisted model, not a new one: the same training time, and (ranked a little later, so with slightly
            // older sensors and longer silences) nearly the same sensors on top.
            Assert.Equal(summary.GetProperty("trainedAt").GetDateTimeOffset(), served.GetProperty("model").GetProperty("trainedAt").GetDateTimeOffset());
            var top = served.GetProperty("sensors").EnumerateArray().Select(sensor => sensor.GetProperty("id").GetString()!);
            Assert.True(top.Intersect(live.Take(decile)).Count() >= 0.8 * decile, report);
        }

        return new Outcome(failures, byModel, byAge, summary.GetProperty("validationAuc").GetDouble(), summary.GetProperty("ageOnlyAuc").GetDouble(), topDrivers, report);
    }

    private static DateTimeOffset Instant(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture);

    public void Dispose() => _directory.Delete(recursive: true);

    private sealed record Outcome(int Failures, int CaughtByModel, int CaughtByAge, double ValidationAuc, double AgeOnlyAuc, List<string> TopDrivers, string Report);
}
