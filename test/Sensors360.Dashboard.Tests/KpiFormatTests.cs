using System.Text.Json;

namespace Sensors360.Dashboard.Tests;

/// <summary>
/// The page's rounding (wwwroot/js/format.js) and the tests' (<see cref="KpiText"/>) agree, halves and binary
/// near-halves included. The page's files are served from the build output through Playwright's routing: no server.
/// </summary>
public sealed class KpiFormatTests
{
    private static readonly double?[] Values =
    [
        null, 0, 0.04, 0.05, 0.25, 0.125, 0.375, 1.005, 2.675, 6.25, 16.255, 59.4, 59.5, 59.6, 119.5, 3599.5, 3600,
        86399.4, 86399.5, 90061, 1234567.891, 99.95, 100,
    ];

    [Fact]
    public async Task The_page_rounds_as_the_tests_do()
    {
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.NewPageAsync();
        await Wwwroot.ServeAsync(page);
        await page.GotoAsync($"{Wwwroot.Origin}/empty.html");

        var values = Values;
        var json = await page.EvaluateAsync<JsonElement>(
            """
            async (values) => {
              const f = await import("/js/format.js");
              return values.map((v) => [f.percent(v), f.seconds(v), f.rate(v), f.duration(v)]);
            }
            """,
            values);

        for (var i = 0; i < values.Length; i++)
        {
            var row = json[i];
            var value = values[i];
            Assert.Equal(KpiText.Percent(value), row[0].GetString());
            Assert.Equal(KpiText.Seconds(value), row[1].GetString());
            Assert.Equal(KpiText.Rate(value), row[2].GetString());
            Assert.Equal(KpiText.Duration(value), row[3].GetString());
        }
    }
}
