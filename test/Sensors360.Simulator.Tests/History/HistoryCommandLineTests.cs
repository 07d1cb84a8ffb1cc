using System.CommandLine;
using Microsoft.Extensions.Time.Testing;
using Sensors360.Simulator.Commands;

namespace Sensors360.Simulator.Tests.History;

/// <summary>The <c>history</c> command line: its options, its errors, and the files it writes.</summary>
public sealed class HistoryCommandLineTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 30, 15, 250, TimeSpan.Zero);

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("sensors360-history-");

    [Fact]
    public void Help_lists_every_option_and_the_root_lists_the_command()
    {
        var (exit, output, _) = Run("history", "--help");

        Assert.Equal(0, exit);
        foreach (var option in (string[])["--sensors", "--out", "--truth", "--manifest", "--prefix", "--sites", "--interval", "--jitter",
            "--lifespan-shape", "--lifespan-scale", "--end", "--span", "--install-over", "--decommissioned-share", "--announcing-share",
            "--flaky-share", "--precursor", "--no-metrics", "--seed"])
        {
            Assert.Contains(option + " ", output, StringComparison.Ordinal);
        }

        using var rootHelp = new StringWriter();
        Assert.Equal(0, SimulatorCommands.Create().Parse(["--help"]).Invoke(new InvocationConfiguration { Output = rootHelp }));
        Assert.Contains("  history ", rootHelp.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Option '--truth' is required", "--truth")]
    [InlineData("Option '--out' is required", "--out")]
    [InlineData("'soon' is not a duration", "--interval", "soon")]
    [InlineData("'yesterday' is not a time", "--end", "yesterday")]
    [InlineData("--sensors must be at least 1", "--sensors", "0")]
    [InlineData("--interval must be at least 1s", "--interval", "500ms")]
    [InlineData("--jitter must be at least 0 and below 1", "--jitter", "1")]
    [InlineData("--lifespan-shape must be positive", "--lifespan-shape", "0")]
    [InlineData("--lifespan-scale must be at least 1s", "--lifespan-scale", "0s")]
    [InlineData("--install-over must not be longer than --span", "--span", "30d", "--install-over", "31d")]
    [InlineData("--decommissioned-share must be between 0 and 1", "--decommissioned-share", "1.5")]
    [InlineData("--announcing-share must be between 0 and 1", "--announcing-share", "-0.1")]
    [InlineData("--flaky-share must be between 0 and 1", "--flaky-share", "2")]
    [InlineData("--precursor must be at least 1s", "--precursor", "0s")]
    [InlineData("--prefix may hold only", "--prefix", "a b")]
    [InlineData("--sites must be at least 1", "--sites", "0")]
    [InlineData("--end minus --span must not be before 1970", "--end", "1970-01-02T00:00:00Z")]
    [InlineData("Cannot parse argument 'many'", "--sensors", "many")]
    public void A_bad_value_is_a_clear_error_and_a_non_zero_exit(string message, params string[] arguments)
    {
        string[] files = ["--out", Path.Combine(_directory.FullName, "h.ndjson"), "--truth", Path.Combine(_directory.FullName, "t.csv")];
        // A test of a missing option leaves that option out.
        var required = arguments.Length == 1 ? files.Where((_, i) => files[i - (i % 2)] != arguments[0]) : files;

        var (exit, _, error) = Run(["history", .. required, .. arguments.Length == 1 ? [] : arguments]);

        Assert.NotEqual(0, exit);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_directory.FullName, "h.ndjson")), "a file was written despite the error");
    }

    [Fact]
    public void The_command_writes_the_three_files_and_ends_the_history_at_the_clocks_now_by_default()
    {
        var history = Path.Combine(_directory.FullName, "out", "history.ndjson");
        var truth = Path.Combine(_directory.FullName, "out", "truth.csv");
        var manifest = Path.Combine(_directory.FullName, "out", "sensors.json");

        var (exit, output, error) = Run("history", "--sensors", "20", "--interval", "6h", "--span", "30d", "--install-over", "10d",
            "--out", history, "--truth", truth, "--manifest", manifest, "--seed", "5", "--prefix", "imp-");

        Assert.True(exit == 0, error);
        Assert.Contains("history (seed 5, end 2026-03-01T12:30:15.000Z): 20 sensors", output, StringComparison.Ordinal);
        Assert.StartsWith("{\"sensor\":\"imp-000", File.ReadAllText(history), StringComparison.Ordinal);
        Assert.Equal(21, File.ReadAllLines(truth).Length);
        Assert.Contains("\"imp-00020\"", File.ReadAllText(manifest), StringComparison.Ordinal);
        // The default end is the clock's now to the second, and nothing is later.
        var last = File.ReadAllLines(history).Max(line => line[(line.IndexOf("\"at\":\"", StringComparison.Ordinal) + 6)..][..29]);
        Assert.True(string.CompareOrdinal(last, "2026-03-01T12:30:15.000+00:00") <= 0, last);

        // The same seed and end repeat the file byte for byte.
        var again = Path.Combine(_directory.FullName, "again.ndjson");
        Assert.Equal(0, Run("history", "--sensors", "20", "--interval", "6h", "--span", "30d", "--install-over", "10d",
            "--out", again, "--truth", Path.Combine(_directory.FullName, "again.csv"), "--seed", "5", "--prefix", "imp-", "--end", "2026-03-01T12:30:15Z").Exit);
        Assert.Equal(File.ReadAllBytes(history), File.ReadAllBytes(again));
    }

    [Fact]
    public void A_file_that_cannot_be_written_is_a_clear_error()
    {
        var blocker = Path.Combine(_directory.FullName, "not-a-directory");
        File.WriteAllText(blocker, "");

        var (exit, _, error) = Run("history", "--out", Path.Combine(blocker, "h.ndjson"), "--truth", Path.Combine(_directory.FullName, "t.csv"), "--end", "2026-01-01T00:00:00Z");

        Assert.Equal(1, exit);
        Assert.Contains("Could not write the history", error, StringComparison.Ordinal);
    }

    public void Dispose() => _directory.Delete(recursive: true);

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var root = new RootCommand { HistoryCommand.Create(new FakeTimeProvider(Now)) };
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }
}
