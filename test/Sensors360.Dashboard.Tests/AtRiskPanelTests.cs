using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Sensors360.Testing;
using static Microsoft.Playwright.Assertions;

namespace Sensors360.Dashboard.Tests;

/// <summary>
/// The At risk panel (wwwroot/js/atrisk.js) in Chromium against the real server: without history it shows why there
/// is no model; with a simulated history imported (the simulator's <c>history</c> command, run as a process) and a
/// model trained, it lists the sensors <c>GET /api/analytics/at-risk</c> ranks, in its order, with its probabilities
/// rounded as the page rounds them and each sensor's drivers. Without a server, with answers from literals and
/// Playwright's clock: the drivers' wording, and when the panel reads again.
/// </summary>
public sealed partial class AtRiskPanelTests(ThrowawayPostgres postgres) : IAsyncDisposable
{
    /// <summary>The page's default horizon: its request names none, so the server answers for the first configured one.</summary>
    private const int HorizonHours = 168;
    private const int Listed = 20;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sensors360-atrisk-page-");
    private readonly List<string> _pageErrors = [];
    private readonly List<IConsoleMessage> _consoleErrors = [];
    private ServerProcess? _server;
    private Browser? _browser;

    [Fact]
    public async Task Without_history_the_panel_shows_why_there_is_no_model()
    {
        using var admin = await StartAsync(nameof(Without_history_the_panel_shows_why_there_is_no_model));

        // Training on an empty history answers 503 with the reason; from then on the ranking's 503 carries the same.
        using var trained = await admin.PostAsync(new Uri("/api/analytics/at-risk/train", UriKind.Relative), null, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, trained.StatusCode);
        using var answer = await admin.GetAsync(new Uri("/api/analytics/at-risk", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        var reason = (await answer.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("detail").GetString();
        Assert.False(string.IsNullOrWhiteSpace(reason));

        var page = await SignInAsync();
        try
        {
            var card = page.Locator("#atrisk-card");
            await Expect(card).ToHaveAttributeAsync("data-state", "no-model", new() { Timeout = Ms(Patience) });
            await Expect(page.Locator("#atrisk-message")).ToHaveTextAsync(reason!);
            await Expect(page.Locator("#atrisk")).ToBeHiddenAsync();
            await Expect(page.Locator("#atrisk-model")).ToBeHiddenAsync();
            // A state of the fleet, not a fault: nothing in the panel is announced as an error.
            await Expect(card.Locator("[role='alert'], .form-error")).ToHaveCountAsync(0);
            Assert.Empty(_pageErrors);
            AssertNoConsoleErrorsBut("401 /api/auth/me", "503 /api/analytics/at-risk");
        }
        catch
        {
            await SaveFailureScreenshotAsync(page);
            throw;
        }
    }

    [Fact]
    public async Task With_a_trained_model_the_panel_lists_the_ranking_the_api_answers_with_its_drivers()
    {
        using var admin = await StartAsync(nameof(With_a_trained_model_the_panel_lists_the_ranking_the_api_answers_with_its_drivers));
        await ImportHistoryAsync(admin);
        using var trained = await admin.PostAsync(new Uri("/api/analytics/at-risk/train", UriKind.Relative), null, TestContext.Current.CancellationToken);
        var model = await trained.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(trained.StatusCode == HttpStatusCode.OK, model.ToString());

        var page = await SignInAsync();
        try
        {
            await Expect(page.Locator("#atrisk-card")).ToHaveAttributeAsync("data-state", "ranked", new() { Timeout = Ms(Patience) });

            // The rows against GET /api/analytics/at-risk at that moment. The server trains again a minute after it
            // starts and ranks anew; a page showing an older scoring than GET's reads again (reloaded, not waiting 5 minutes).
            var ranking = await Eventually.MatchesAsync(
                async () =>
                {
                    var report = await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/analytics/at-risk?limit={Listed}", UriKind.Relative));
                    var scoredAt = report.GetProperty("scoredAt").GetDateTimeOffset();
                    var shownScoredAt = await page.Locator("#atrisk-card").GetAttributeAsync("data-scored-at");
                    if (shownScoredAt is not null && DateTimeOffset.Parse(shownScoredAt, CultureInfo.InvariantCulture) < scoredAt)
                    {
                        await page.ReloadAsync();
                    }

                    var expected = report.GetProperty("sensors").EnumerateArray().Select(sensor =>
                        $"{sensor.GetProperty("id").GetString()} {KpiText.Percent(sensor.GetProperty("failureProbability").GetDouble() * 100)} " +
                        $"[{string.Join(",", sensor.GetProperty("drivers").EnumerateArray().Select(driver => driver.GetProperty("name").GetString()))}]");
                    var shown = await page.EvaluateAsync<string[]>(
                        """
                        () => [...document.querySelectorAll("#atrisk tbody tr[data-sensor-id]")].map((row) =>
                          `${row.dataset.sensorId} ${row.querySelector(".atrisk-probability").textContent} ` +
                          `[${[...row.querySelectorAll("li[data-driver]")].map((li) => li.dataset.driver).join(",")}]`)
                        """);
                    return new Rows(report, string.Join("\n", expected), string.Join("\n", shown));
                },
                rows => rows.Expected == rows.Shown,
                Patience,
                "the panel lists GET /api/analytics/at-risk's sensors, order, probabilities and drivers");
            // Hundreds of sensors are live: the panel shows its 20.
            Assert.Equal(Listed, ranking.Report.GetProperty("sensors").GetArrayLength());
            Assert.Equal(HorizonHours * 3600, ranking.Report.GetProperty("horizonSeconds").GetInt64());

            // Every driver is put in words (no number missing), and some sensor has one.
            var drivers = page.Locator("#atrisk li[data-driver]");
            Assert.True(await drivers.CountAsync() > 0, "no driver shown");
            foreach (var text in await drivers.AllTextContentsAsync())
            {
                Assert.False(string.IsNullOrWhiteSpace(text) || text.Contains(KpiText.None, StringComparison.Ordinal), $"driver text '{text}'");
            }

            // The scope line and the model line name what the ranking rests on.
            await Expect(page.Locator("#atrisk-scope")).ToContainTextAsync($"among {ranking.Report.GetProperty("liveSensors").GetInt32()} live sensors");
            var summary = ranking.Report.GetProperty("model");
            var modelLine = page.Locator("#atrisk-model");
            await Expect(modelLine).ToContainTextAsync($"on {summary.GetProperty("trainedOn").GetInt32()} examples");
            await Expect(modelLine).ToContainTextAsync($"validation AUC {KpiText.Fixed(summary.GetProperty("validationAuc").GetDouble(), 2)}");
            await Expect(modelLine).ToContainTextAsync($"by age alone {KpiText.Fixed(summary.GetProperty("ageOnlyAuc").GetDouble(), 2)}");
            await SaveScreenshotAsync(page);

            // A sensor's id opens its details, as in the sensor table.
            var first = page.Locator("#atrisk tbody tr[data-sensor-id]").First;
            var id = await first.GetAttributeAsync("data-sensor-id");
            await first.GetByRole(AriaRole.Button, new() { Name = id! }).ClickAsync();
            await Expect(page.Locator("#sensor-detail")).ToBeVisibleAsync();
            await Expect(page.Locator("#detail-id")).ToHaveTextAsync(id!);
            Assert.Empty(_pageErrors);
            AssertNoConsoleErrorsBut("401 /api/auth/me");
        }
        catch
        {
            await SaveFailureScreenshotAsync(page);
            throw;
        }
    }

    [Fact]
    public async Task Drivers_read_as_words_and_the_panel_reads_again_after_Retry_After_then_every_5_minutes()
    {
        _browser = await Browser.LaunchAsync();
        var page = await _browser.NewPageAsync();
        page.PageError += (_, error) => _pageErrors.Add(error);
        var answers = new AtRiskAnswers();
        // The page's time stands still but for RunFor, so the reads fall exactly where the panel's timer puts them.
        await page.Clock.InstallAsync(new() { TimeString = "2026-11-27T12:59:00Z" });
        await page.Clock.PauseAtAsync("2026-11-27T13:00:00Z");
        await Wwwroot.ServePartsAsync(page);
        await page.RouteAsync($"{Wwwroot.Origin}/api/analytics/at-risk*", answers.AnswerAsync);
        await page.GotoAsync($"{Wwwroot.Origin}/index.html");
        await page.EvaluateAsync(
            """
            async () => {
              const { AtRiskPanel } = await import("/js/atrisk.js");
              const byId = (id) => document.getElementById(id);
              byId("dashboard-view").hidden = false;
              // Counted as the panel calls fetch, which its timer does at once: the route hears of a read only later.
              window.reads = 0;
              const fetchFromServer = window.fetch;
              window.fetch = (...args) => (String(args[0]).startsWith("/api/analytics/at-risk") && reads++, fetchFromServer(...args));
              window.opened = [];
              window.atRisk = new AtRiskPanel({
                card: byId("atrisk-card"), table: byId("atrisk"), scope: byId("atrisk-scope"), message: byId("atrisk-message"),
                model: byId("atrisk-model"), onOpen: (id) => opened.push(id), onUnauthorized: () => {},
              });
              atRisk.start();
            }
            """);

        // No model: the reason, and the next read when Retry-After says (90 s), not 5 minutes later. Each state waits for
        // a route answer, which Playwright hands to this process and back: on a busy machine that took over 5 s.
        var card = page.Locator("#atrisk-card");
        await Expect(card).ToHaveAttributeAsync("data-state", "no-model", new() { Timeout = Ms(Patience) });
        await Expect(page.Locator("#atrisk-message")).ToHaveTextAsync("The history holds 3 failures; training needs at least 20.");
        Assert.Equal(["?limit=20"], answers.Queries);
        answers.Status = 200;
        await page.Clock.RunForAsync(89_000);
        Assert.Equal(1, await ReadsAsync(page));
        await page.Clock.RunForAsync(1_000);
        Assert.Equal(2, await ReadsAsync(page));
        await Expect(card).ToHaveAttributeAsync("data-state", "ranked", new() { Timeout = Ms(Patience) });

        // Each driver in words, in the server's order; the probability to one decimal, the age as the page writes durations.
        var row = page.Locator("#atrisk tbody tr[data-sensor-id='w-1']");
        await Expect(row.Locator(".atrisk-probability")).ToHaveTextAsync("42.3 %");
        await Expect(row.Locator(".atrisk-age")).ToHaveTextAsync("12 d 03 h");
        await Expect(row.Locator("li[data-driver]")).ToHaveTextAsync(
        [
            "41.2 days old", "silent for 4.2 intervals", "missed 35 % of beats (1 d)", "missed 12 % of beats (7 d)",
            "beats 1.8× the usual interval apart (1 d)", "beats 1.3× the usual interval apart (7 d)", "40 % of beats late (7 d)",
            "longest gap 6.5 intervals (7 d)", "battery trend \u22123.1 σ", "temperatureC trend +2.0 σ", "vibration 0.57",
        ]);
        await Expect(page.Locator("#atrisk-scope")).ToHaveTextAsync("Chance of failing within 7 days; ranked at 2026-11-27 12:55:00 among 640 live sensors");
        await Expect(page.Locator("#atrisk-model")).ToHaveTextAsync(
            "Model trained 2026-11-27 09:00:00 on 11127 examples (2424 failures); validation AUC 0.65, by age alone 0.56");
        await row.GetByRole(AriaRole.Button, new() { Name = "w-1" }).ClickAsync();
        Assert.Equal(["w-1"], await page.EvaluateAsync<string[]>("() => opened"));

        // Then every 5 minutes. The third answer is a later ranking, so the page can be seen to have shown it.
        answers.ScoredAt = "2026-11-27T13:00:00Z";
        await page.Clock.RunForAsync((5 * 60_000) - 1_000);
        Assert.Equal(2, await ReadsAsync(page));
        await page.Clock.RunForAsync(1_000);
        Assert.Equal(3, await ReadsAsync(page));
        // The panel schedules its next read in the task that shows an answer: once the page shows the third, the clock
        // may move. The route having answered is not enough (the page may not have read the answer yet, and then the
        // read 5 minutes on would be scheduled after the clock had already moved past it).
        await Expect(card).ToHaveAttributeAsync("data-scored-at", "2026-11-27T13:00:00Z", new() { Timeout = Ms(Patience) });

        // A server without the route: a dash, quietly, as on the Lifespan panel.
        answers.Status = 404;
        await page.Clock.RunForAsync(5 * 60_000);
        await Expect(card).ToHaveAttributeAsync("data-state", "none", new() { Timeout = Ms(Patience) });
        await Expect(page.Locator("#atrisk-message")).ToHaveTextAsync(KpiText.None);
        await Expect(page.Locator("#atrisk")).ToBeHiddenAsync();
        Assert.Equal(4, await ReadsAsync(page));
        Assert.All(answers.Queries, query => Assert.Equal("?limit=20", query));
        Assert.Empty(_pageErrors);
    }

    private static Task<int> ReadsAsync(IPage page) => page.EvaluateAsync<int>("() => reads");

    /// <summary>The panel's reads answered from literals (Playwright calls the route on threads of its own): what it asked, how many answers went out.</summary>
    private sealed class AtRiskAnswers
    {
        private readonly Lock _lock = new();
        private readonly List<string> _queries = [];
        private int _status = 503;
        private string _scoredAt = WordingScoredAt;

        /// <summary>503 (no model, Retry-After 90 s), 200 (<see cref="WordingReport"/>) or 404; changed only between reads.</summary>
        public int Status
        {
            get { lock (_lock) { return _status; } }
            set { lock (_lock) { _status = value; } }
        }

        /// <summary>The ranking time a 200 answer carries (<see cref="WordingScoredAt"/> unless changed between reads).</summary>
        public string ScoredAt
        {
            get { lock (_lock) { return _scoredAt; } }
            set { lock (_lock) { _scoredAt = value; } }
        }

        public IReadOnlyList<string> Queries { get { lock (_lock) { return [.. _queries]; } } }

        public async Task AnswerAsync(IRoute route)
        {
            int status;
            string scoredAt;
            lock (_lock)
            {
                _queries.Add(new Uri(route.Request.Url).Query);
                status = _status;
                scoredAt = _scoredAt;
            }

            await route.FulfillAsync(status switch
            {
                200 => new() { Status = 200, ContentType = "application/json", Body = WordingReportScoredAt(scoredAt) },
                503 => new()
                {
                    Status = 503,
                    ContentType = "application/problem+json",
                    Headers = new Dictionary<string, string> { ["Retry-After"] = "90" },
                    Body = """{"status":503,"title":"No failure model yet","detail":"The history holds 3 failures; training needs at least 20."}""",
                },
                _ => new() { Status = status, ContentType = "application/problem+json", Body = $$"""{"status":{{status}},"title":"Not Found"}""" },
            });
        }
    }

    private const string WordingScoredAt = "2026-11-27T12:55:00Z";

    /// <summary><see cref="WordingReport"/> as JSON, ranked at <paramref name="scoredAt"/>.</summary>
    private static string WordingReportScoredAt(string scoredAt)
    {
        var report = JsonSerializer.SerializeToNode(WordingReport)!;
        report["scoredAt"] = scoredAt;
        return report.ToJsonString();
    }

    /// <summary>One sensor with a driver of every name the server gives, and one it may give one day.</summary>
    private static readonly object WordingReport = new
    {
        horizonSeconds = 604800,
        model = new
        {
            kind = "gradientBoostedTrees", trainedAt = "2026-11-27T09:00:00Z", trainedOn = 11127, trainingFailures = 2424,
            validationAuc = 0.6541, ageOnlyAuc = 0.5643, features = Array.Empty<string>(),
        },
        scoredAt = WordingScoredAt,
        liveSensors = 640,
        sensors = new[]
        {
            new
            {
                id = "w-1",
                failureProbability = 0.4231,
                ageSeconds = 1_049_000.0, // 12 d 03 h 23 min
                drivers = new (string Name, double Value)[]
                {
                    ("ageDays", 41.23), ("silence", 4.2), ("missedShare1d", 0.35), ("missedShare7d", 0.1234), ("intervalDrift1d", 1.8),
                    ("intervalDrift7d", 1.26), ("lateShare7d", 0.4), ("longestGap7d", 6.5), ("trend:battery", -3.14), ("trend:temperatureC", 2),
                    ("vibration", 0.5678),
                }.Select(driver => new { name = driver.Name, value = driver.Value, contribution = 0.1 }).ToArray(),
            },
        },
    };

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _directory.Delete(recursive: true);
    }

    /// <summary>A server with hourly-heartbeat settings (six silent hours is a death) and the page's horizon; an admin session.</summary>
    private async Task<HttpClient> StartAsync(string purpose)
    {
        var database = await PreparedDatabase.CreateAsync(postgres, purpose);
        _server = ServerProcess.Start(database, "atrisk-page", new Dictionary<string, string?>
        {
            ["Sensors360__Analytics__PresumedDeadAfter"] = "06:00:00",
            ["Sensors360__Analytics__HorizonHours__0"] = HorizonHours.ToString(CultureInfo.InvariantCulture),
        });
        var browser = Browser.LaunchAsync();
        await _server.WaitUntilReadyAsync();
        _browser = await browser;
        // The history import and the training are long requests on a busy machine: the client's 30 s default cut one off.
        return await _server.LoginAsync(timeout: TimeSpan.FromMinutes(5));
    }

    private async Task<IPage> SignInAsync()
    {
        var page = await _browser!.NewPageAsync(1280, 900);
        page.PageError += (_, error) => _pageErrors.Add(error);
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                _consoleErrors.Add(message);
            }
        };
        await page.GotoAsync(_server!.BaseAddress.ToString());
        await page.FillAsync("#login-username", "admin");
        await page.FillAsync("#login-password", _server.AdminPassword);
        await page.ClickAsync("#login-submit");
        await Expect(page.Locator("#session-user")).ToHaveTextAsync("admin");
        return page;
    }

    /// <summary>
    /// A fleet whose failures the model can learn: 1500 hourly sensors over 60 days with 30-day Weibull lives, most
    /// failures announced by late and missed heartbeats for about 4 days. Provisioned from the manifest, then imported.
    /// </summary>
    private async Task ImportHistoryAsync(HttpClient admin)
    {
        var history = Path.Combine(_directory.FullName, "history.ndjson");
        var manifest = Path.Combine(_directory.FullName, "manifest.json");
        await RunSimulatorAsync(
            "history", "--sensors", "1500", "--prefix", "risk-", "--interval", "1h", "--lifespan-scale", "30d", "--lifespan-shape", "1.5",
            "--span", "60d", "--install-over", "60d", "--announcing-share", "0.6", "--precursor", "4d", "--decommissioned-share", "0",
            "--seed", "360", "--out", history, "--truth", Path.Combine(_directory.FullName, "truth.csv"), "--manifest", manifest);

        var sensors = JsonSerializer.Deserialize<JsonElement>(await File.ReadAllTextAsync(manifest, TestContext.Current.CancellationToken)).EnumerateArray().ToList();
        await Parallel.ForEachAsync(sensors, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (sensor, cancellationToken) =>
        {
            using var provisioned = await admin.PostAsJsonAsync(new Uri("/api/sensors", UriKind.Relative), sensor, cancellationToken);
            Assert.Equal(HttpStatusCode.Created, provisioned.StatusCode);
        });

        await using var file = File.OpenRead(history);
        using var content = new StreamContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        using var imported = await admin.PostAsync(new Uri("/api/import/heartbeats", UriKind.Relative), content, TestContext.Current.CancellationToken);
        var body = await imported.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(imported.StatusCode == HttpStatusCode.OK, body.ToString());
        Assert.Equal(0, body.GetProperty("rejected").GetInt64());
    }

    /// <summary>The simulator as an operator runs it (<c>dotnet Sensors360.Simulator.dll</c>), from this build's output.</summary>
    private static async Task RunSimulatorAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Sensors360.Simulator.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the simulator.");
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, $"simulator {string.Join(' ', arguments)} exited with {process.ExitCode}: {await error}{await output}");
        TestContext.Current.TestOutputHelper?.WriteLine(await output);
    }

    /// <summary>
    /// No console errors but Chromium's own line for each non-2xx answer the page expects ("status path"): it logs one
    /// for every such fetch, whatever the page does with it; the page's first GET /api/auth/me is 401 before sign-in.
    /// </summary>
    private void AssertNoConsoleErrorsBut(params string[] expectedAnswers)
    {
        var unexpected = _consoleErrors
            .Select(message => (message.Text, Answer: BrowserAnswerLine().Match(message.Text) is { Success: true } line
                ? $"{line.Groups["status"].Value} {new Uri(LineAndColumn().Replace(message.Location, "")).AbsolutePath}"
                : null))
            .Where(error => error.Answer is null || !expectedAnswers.Contains(error.Answer))
            .Select(error => $"{error.Text} ({error.Answer})")
            .ToList();
        Assert.True(unexpected.Count == 0, string.Join("\n", unexpected));
    }

    [GeneratedRegex(@"^Failed to load resource: the server responded with a status of (?<status>\d{3})")]
    private static partial Regex BrowserAnswerLine();

    [GeneratedRegex(@":\d+:\d+$")]
    private static partial Regex LineAndColumn();

    /// <summary>The ranking as GET answered it and as the panel showed it, one "id probability [drivers]" line per sensor.</summary>
    private sealed record Rows(JsonElement Report, string Expected, string Shown)
    {
        public override string ToString() => $"\nexpected:\n{Expected}\nshown:\n{Shown}";
    }

    private static float Ms(TimeSpan timeout) => (float)timeout.TotalMilliseconds;

    private static string Screenshots => Path.Combine(AppContext.BaseDirectory, "screenshots");

    /// <summary>The panel with a ranking, for a person to look at, next to the dashboard test's screenshots.</summary>
    private static async Task SaveScreenshotAsync(IPage page)
    {
        Directory.CreateDirectory(Screenshots);
        await page.Locator("#atrisk-card").ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "atrisk.png") });
    }

    private static async Task SaveFailureScreenshotAsync(IPage page)
    {
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "atrisk-failure.png"), FullPage = true });
    }
}
