namespace Sensors360.Bench.Tests;

/// <summary>
/// The ingest peaks' order: every target once a round, and the two runs each goal compares (issue 14: the route against
/// <c>noop</c> and <c>naive</c>, <c>noop</c> against bare Kestrel) side by side in every round, each first in turn.
/// </summary>
public sealed class RoundOrderTests
{
    private static readonly string[] Targets = ["noop", "grain", "naive", "sensors360", "bare-kestrel", "bare-ingest"];

    [Theory]
    [InlineData("sensors360", "noop")]
    [InlineData("sensors360", "naive")]
    [InlineData("noop", "bare-kestrel")]
    public void The_two_runs_of_a_goal_are_neighbours_in_every_round_and_take_turns_going_first(string numerator, string denominator)
    {
        var firsts = new List<string>();
        for (var round = 0; round < 4; round++)
        {
            var order = IngestBenchmark.RoundOrder(round);

            Assert.Equal(Targets.Order(), order.Order());
            var (a, b) = (Array.IndexOf(order, numerator), Array.IndexOf(order, denominator));
            Assert.Equal(1, Math.Abs(a - b));
            firsts.Add(a < b ? numerator : denominator);
        }

        Assert.Equal([firsts[0], firsts[1], firsts[0], firsts[1]], firsts);
        Assert.NotEqual(firsts[0], firsts[1]);
    }

    [Fact]
    public void A_feed_round_runs_once_without_and_once_with_the_sockets_the_sockets_state_carrying_over_and_each_first_in_turn()
    {
        var rounds = Enumerable.Range(0, 4).Select(IngestBenchmark.FeedRoundOrder).ToList();

        Assert.All(rounds, order => Assert.Equal([false, true], order.Order()));
        Assert.NotEqual(rounds[0][0], rounds[1][0]);
        // A round starts as the last one ended, so the sockets open or close once a round, between its two runs.
        Assert.All(rounds.Zip(rounds.Skip(1)), pair => Assert.Equal(pair.First[^1], pair.Second[0]));
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(5, 6)]
    public void The_feed_step_has_an_even_number_of_rounds_so_as_many_start_with_the_sockets_as_without(int peakRounds, int feedRounds)
    {
        Assert.Equal(feedRounds, IngestBenchmark.FeedRounds(peakRounds));
        var firsts = Enumerable.Range(0, feedRounds).Select(round => IngestBenchmark.FeedRoundOrder(round)[0]).ToList();
        Assert.Equal(firsts.Count(first => first), firsts.Count(first => !first));
    }
}
