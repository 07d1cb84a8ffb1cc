using Microsoft.Extensions.Time.Testing;
using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>One warning a period for a failure that repeats with the traffic, on a fake clock.</summary>
public sealed class WarningPaceTests
{
    [Fact]
    public void The_first_failure_of_each_period_is_warned_and_the_rest_are_not()
    {
        var clock = new FakeTimeProvider();
        var pace = new WarningPace(TimeSpan.FromSeconds(10), clock);

        var turns = new List<bool> { pace.TakeTurn(), pace.TakeTurn() };
        clock.Advance(TimeSpan.FromSeconds(9.9));
        turns.Add(pace.TakeTurn());
        clock.Advance(TimeSpan.FromSeconds(0.1));
        turns.Add(pace.TakeTurn());
        turns.Add(pace.TakeTurn());
        // A quiet spell longer than the period: the next failure is warned at once, and the period starts from it.
        clock.Advance(TimeSpan.FromMinutes(5));
        turns.Add(pace.TakeTurn());
        clock.Advance(TimeSpan.FromSeconds(5));
        turns.Add(pace.TakeTurn());

        Assert.Equal([true, false, false, true, false, true, false], turns);
    }

    [Fact]
    public async Task Of_many_failures_at_the_same_moment_exactly_one_is_warned()
    {
        var pace = new WarningPace(TimeSpan.FromSeconds(10), new FakeTimeProvider());
        using var start = new Barrier(8);

        var turns = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait();
                return Enumerable.Range(0, 1_000).Count(_ => pace.TakeTurn());
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)));

        Assert.Equal(1, turns.Sum());
    }
}
