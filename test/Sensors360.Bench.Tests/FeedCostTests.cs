namespace Sensors360.Bench.Tests;

/// <summary>The feed goal's figure is the median of each round's own ratio, not a ratio of rates taken minutes apart.</summary>
public sealed class FeedCostTests
{
    [Fact]
    public void The_ratio_is_the_median_of_the_rounds_ratios()
    {
        // Ratios 0.90, 0.80 and 0.95 (hand-computed): their median is 0.90, where the medians' ratio would be 15,200 ÷ 16,000 = 0.95.
        FeedRound[] rounds =
        [
            new(1, false, new FeedRun(20_000, 1.1, 0.01), new FeedRun(18_000, 1.2, 0.04), 1.0, 464),
            new(2, true, new FeedRun(10_000, 1.0, 0.01), new FeedRun(8_000, 1.1, 0.04), 0.9, 460),
            new(3, false, new FeedRun(16_000, 1.1, 0.02), new FeedRun(15_200, 1.2, 0.05), 1.0, 470),
        ];

        var cost = new FeedCost(10_000, rounds, 0, 0.1, 0.1, 0.3, 10_000, new SocketMemory(0, 0));

        Assert.Equal(0.9, cost.Ratio);
        Assert.Equal(16_000, cost.WithoutSocketsPerSecond);
        Assert.Equal(15_200, cost.WithSocketsPerSecond);
        Assert.Equal(1.0, cost.SnapshotsPerSocketPerSecond);
        Assert.Equal(20.0, cost.ServerMicrosecondsPerSnapshot);
    }
}
