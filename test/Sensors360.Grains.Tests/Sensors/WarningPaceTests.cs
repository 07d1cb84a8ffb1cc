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
    public async Task Of_many_failures_at_the_same_moment_exactly_one_is_warned_each_period()
    {
        const int Threads = 8;
        const int Periods = 200;
        var clock = new FakeTimeProvider();
        var period = TimeSpan.FromSeconds(10);
        var pace = new WarningPace(period, clock);
        // Every thread tries at once, many times, in each period; the clock moves on only when all are done with it.
        using var periodOver = new Barrier(Threads, _ => clock.Advance(period));

        var turns = await Task.WhenAll(Enumerable.Range(0, Threads).Select(_ => Task.Factory.StartNew(
            () =>
            {
                var taken = 0;
                for (var i = 0; i < Periods; i++)
                {
                    taken += Enumerable.Range(0, 20).Count(_ => pace.TakeTurn());
                    periodOver.SignalAndWait();
                }

                return taken;
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)));

        // Each period has at least one turn (its clock is past the last turn's period), so this many means one each.
        Assert.Equal(Periods, turns.Sum());
    }
}
