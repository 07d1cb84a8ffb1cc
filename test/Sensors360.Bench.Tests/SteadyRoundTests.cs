namespace Sensors360.Bench.Tests;

/// <summary>The p99 goal's figure is the median of its rounds' p99, each at 70% of the peak measured right before it.</summary>
public sealed class SteadyRoundTests
{
    [Theory]
    // Hand-computed medians: one slow round among three does not decide the goal, two do.
    [InlineData(new[] { 95.76, 38.30, 41.00 }, 41.00)]
    [InlineData(new[] { 95.76, 68.10, 38.30 }, 68.10)]
    // A round with more than 1% of its requests failed has an infinite p99, higher than any measured one.
    [InlineData(new[] { double.PositiveInfinity, 30.00, 45.00 }, 45.00)]
    [InlineData(new[] { double.PositiveInfinity, double.PositiveInfinity, 30.00 }, double.PositiveInfinity)]
    [InlineData(new[] { 52.50 }, 52.50)]
    public void The_goals_figure_is_the_median_of_the_rounds_p99(double[] p99s, double expected)
    {
        var rounds = p99s.Select((p99, index) => new SteadyRound(
            index + 1, 20_000, 14_000, p99, new ServerLatency(280_000, 0.998, 25), new ClientLatency(p99 - 3, 15, 0), 0.9, 0.3));

        Assert.Equal(expected, SteadyRound.MedianP99(rounds));
    }
}
