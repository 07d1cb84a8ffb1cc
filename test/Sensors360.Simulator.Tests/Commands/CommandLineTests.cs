using System.CommandLine;
using Sensors360.Simulator.Commands;
using Sensors360.Simulator.Server;

namespace Sensors360.Simulator.Tests.Commands;

/// <summary>The command line: durations, validation, help, and where the operator's password comes from.</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("20s", 20_000)]
    [InlineData("500ms", 500)]
    [InlineData("5m", 300_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("2.5s", 2_500)]
    [InlineData("60", 60_000)]
    [InlineData("0.25", 250)]
    [InlineData("00:01:30", 90_000)]
    public void Durations_read_as_people_write_them(string text, long milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var duration));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration);
    }

    [Theory]
    [InlineData(20_000, "20s")]
    [InlineData(5_400_000, "1h30m")]
    [InlineData(1_500, "1.5s")]
    [InlineData(90_061_000, "1d1h1m1s")]
    public void Durations_are_shown_as_they_are_written(long milliseconds, string text)
    {
        Assert.Equal(text, Durations.Format(TimeSpan.FromMilliseconds(milliseconds)));
        Assert.True(Durations.TryParse(text, out var back));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), back);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5x")]
    [InlineData("s")]
    [InlineData("-5s")]
    [InlineData("10s garbage")]
    public void Nonsense_is_not_a_duration(string text) => Assert.False(Durations.TryParse(text, out _));

    [Fact]
    public void Help_lists_every_option_of_both_commands()
    {
        var rootHelp = Help("--help");
        foreach (var fleetHelp in (string[])[rootHelp, Help("fleet", "--help")])
        {
            foreach (var option in (string[])["--server", "--user", "--password", "--state", "--prefix", "--tags", "--sensors", "--interval", "--jitter",
                "--threshold", "--lifespan-shape", "--lifespan-scale", "--flaky-share", "--replace", "--metrics", "--no-metrics", "--seed", "--duration", "--truth"])
            {
                Assert.Contains(option + " ", fleetHelp, StringComparison.Ordinal);
            }
        }

        Assert.Contains("  load ", rootHelp, StringComparison.Ordinal);
        Assert.Contains("  fleet ", rootHelp, StringComparison.Ordinal);

        var loadHelp = Help("load", "--help");
        foreach (var option in (string[])["--server", "--user", "--password", "--state", "--prefix", "--tags", "--rate", "--max", "--concurrency",
            "--duration", "--sensors", "--url-path", "--no-auth", "--metrics", "--threshold", "--timeout", "--json"])
        {
            Assert.Contains(option + " ", loadHelp, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(false, "load")]
    [InlineData(false, "load", "--rate", "100", "--max")]
    [InlineData(true, "load", "--max")]
    [InlineData(true, "load", "--rate", "250.5", "--duration", "10s", "--url-path", "/bench/noop/{id}", "--no-auth")]
    [InlineData(true, "--sensors", "20", "--duration", "20s")]
    [InlineData(true, "fleet", "--replace", "--no-metrics", "--seed", "3", "--tags", "a,b", "--tags", "c")]
    [InlineData(false, "fleet", "--duration", "soon")]
    [InlineData(false, "fleet", "--sensors", "many")]
    public void Parsing_accepts_what_makes_sense(bool valid, params string[] args)
    {
        var parse = SimulatorCommands.Create().Parse(args);
        Assert.True(valid == (parse.Errors.Count == 0), string.Join("; ", parse.Errors.Select(error => error.Message)));
    }

    [Fact]
    public void The_password_comes_from_the_option_then_the_environment_then_the_data_file()
    {
        var directory = Directory.CreateTempSubdirectory("sensors360-password-");
        try
        {
            Assert.Null(OperatorPassword.Resolve(null, null, directory.FullName));
            Directory.CreateDirectory(Path.Combine(directory.FullName, ".data"));
            File.WriteAllText(Path.Combine(directory.FullName, ".data", "admin-password"), "from-file\n");

            Assert.Equal("from-file", OperatorPassword.Resolve(null, null, directory.FullName));
            Assert.Equal("from-environment", OperatorPassword.Resolve(null, "from-environment", directory.FullName));
            Assert.Equal("from-option", OperatorPassword.Resolve("from-option", "from-environment", directory.FullName));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static string Help(params string[] args)
    {
        using var output = new StringWriter();
        var exit = SimulatorCommands.Create().Parse(args).Invoke(new InvocationConfiguration { Output = output });
        Assert.Equal(0, exit);
        return output.ToString();
    }
}
