using Sensors360.Server.Dashboard;

namespace Sensors360.Server.Tests.Dashboard;

/// <summary>The feed's snapshot fan-out: the newest value, at most one per tick per receiver, joins and leaves at any time.</summary>
public sealed class LatestFanOutTests
{
    [Fact]
    public void A_receiver_takes_the_latest_at_once_then_only_the_newest_once_per_tick()
    {
        var fanOut = new LatestFanOut<Value, Receiver>(receiver => receiver.TellDue());
        fanOut.Publish(new Value(1));
        var receiver = new Receiver();
        using var subscription = fanOut.Join(receiver);

        Assert.True(subscription.TryTake(out var first));
        Assert.Equal(1, first.Number);

        // Newer values in the same tick wait for the next one; then only the newest is taken.
        fanOut.Publish(new Value(2));
        fanOut.Publish(new Value(3));
        Assert.False(subscription.TryTake(out _));
        Assert.Equal(0, receiver.Told);

        fanOut.Tick();
        Assert.Equal(1, receiver.Told);
        Assert.True(subscription.TryTake(out var newest));
        Assert.Equal(3, newest.Number);
        Assert.False(subscription.TryTake(out _));

        // Up to date: the next tick tells it nothing.
        fanOut.Tick();
        Assert.Equal(1, receiver.Told);
        Assert.False(subscription.TryTake(out _));
    }

    [Fact]
    public void A_receiver_that_took_nothing_for_the_repeat_period_is_told_and_takes_the_latest_again_once()
    {
        const int RepeatAfter = 4;
        var fanOut = new LatestFanOut<Value, Receiver>(receiver => receiver.TellDue(), slices: 1, repeatAfterTicks: RepeatAfter);
        fanOut.Publish(new Value(1));
        var receiver = new Receiver();
        using var subscription = fanOut.Join(receiver);
        Assert.True(subscription.TryTake(out _));

        // Nothing new: quiet for fewer ticks than the period, it is neither told nor able to take.
        for (var tick = 1; tick < RepeatAfter; tick++)
        {
            fanOut.Tick();
            Assert.Equal(0, receiver.Told);
            Assert.False(subscription.IsDue);
            Assert.False(subscription.TryTake(out _));
        }

        // The period's tick: told, and the same value again, once.
        fanOut.Tick();
        Assert.Equal(1, receiver.Told);
        Assert.True(subscription.IsDue);
        Assert.True(subscription.TryTake(out var again));
        Assert.Equal(1, again.Number);
        Assert.False(subscription.TryTake(out _));

        // Taking it started a new period; a newer value still goes out at the next tick as always.
        fanOut.Tick();
        Assert.Equal(1, receiver.Told);
        Assert.False(subscription.TryTake(out _));
        fanOut.Publish(new Value(2));
        fanOut.Tick();
        Assert.Equal(2, receiver.Told);
        Assert.True(subscription.TryTake(out var newer));
        Assert.Equal(2, newer.Number);
    }

    [Fact]
    public void Without_a_repeat_period_a_receiver_up_to_date_is_never_told_again()
    {
        var fanOut = new LatestFanOut<Value, Receiver>(receiver => receiver.TellDue());
        fanOut.Publish(new Value(1));
        var receiver = new Receiver();
        using var subscription = fanOut.Join(receiver);
        Assert.True(subscription.TryTake(out _));
        for (var tick = 0; tick < 100; tick++)
        {
            fanOut.Tick();
        }

        Assert.Equal(0, receiver.Told);
        Assert.False(subscription.TryTake(out _));
    }

    [Fact]
    public void Receivers_are_spread_evenly_over_the_slices_and_each_slice_is_told_and_takes_only_on_its_own_tick()
    {
        const int Slices = 3;
        var fanOut = new LatestFanOut<Value, Receiver>(receiver => receiver.TellDue(), Slices);
        fanOut.Publish(new Value(1));
        var receivers = Enumerable.Range(0, 2 * Slices).Select(_ => new Receiver()).ToArray();
        var subscriptions = receivers.Select(fanOut.Join).ToArray();
        Assert.All(subscriptions, subscription => Assert.True(subscription.TryTake(out _)));
        Assert.Equal([2, 2, 2], Enumerable.Range(0, Slices).Select(slice => subscriptions.Count(subscription => subscription.Slice == slice)));

        fanOut.Publish(new Value(2));
        for (var slice = 0; slice < Slices; slice++)
        {
            fanOut.TickSlice(slice);
            for (var i = 0; i < receivers.Length; i++)
            {
                // Told and able to take once its own slice has ticked, not before.
                var ticked = subscriptions[i].Slice <= slice;
                Assert.Equal(ticked ? 1 : 0, receivers[i].Told);
                if (subscriptions[i].Slice == slice)
                {
                    Assert.True(subscriptions[i].TryTake(out var value));
                    Assert.Equal(2, value.Number);
                }
                else
                {
                    Assert.False(subscriptions[i].TryTake(out _));
                }
            }
        }

        // A newer value waits for each receiver's own next tick, whatever the other slices do meanwhile.
        fanOut.Publish(new Value(3));
        fanOut.TickSlice(1);
        fanOut.TickSlice(2);
        Assert.All(subscriptions.Where(subscription => subscription.Slice == 0), subscription => Assert.False(subscription.TryTake(out _)));
        fanOut.TickSlice(0);
        Assert.All(subscriptions, subscription =>
        {
            Assert.True(subscription.TryTake(out var value));
            Assert.Equal(3, value.Number);
        });

        // Receivers that left unevenly: the next ones fill the slice they emptied.
        foreach (var subscription in subscriptions.Where(subscription => subscription.Slice == 1))
        {
            subscription.Dispose();
        }

        Assert.Equal([1, 1], new[] { new Receiver(), new Receiver() }.Select(receiver => fanOut.Join(receiver).Slice));
    }

    [Fact]
    public void A_receiver_that_joined_before_the_first_value_is_told_when_it_comes_and_one_that_left_is_not()
    {
        var fanOut = new LatestFanOut<Value, Receiver>(receiver => receiver.TellDue());
        var early = new Receiver();
        var gone = new Receiver();
        using var subscription = fanOut.Join(early);
        fanOut.Join(gone).Dispose();
        Assert.False(subscription.TryTake(out _));

        fanOut.Publish(new Value(7));

        Assert.Equal(1, early.Told);
        Assert.Equal(0, gone.Told);
        Assert.True(subscription.TryTake(out var value));
        Assert.Equal(7, value.Number);
        Assert.Equal(1, fanOut.Count);
        var reached = new List<Receiver>();
        fanOut.ForEachReceiver(reached.Add);
        Assert.Equal([early], reached);
    }

    [Fact]
    public async Task Joining_and_leaving_while_another_thread_publishes_and_ticks_loses_no_latest_value_and_throws_nothing()
    {
        const int Values = 20_000;
        const int ChurnRounds = 2_000;
        const int Churners = 2;
        var fanOut = new LatestFanOut<Value, Receiver>(receiver => receiver.TellDue());
        var stayers = Enumerable.Range(0, 50).Select(_ => new Receiver()).ToArray();
        var stayed = stayers.Select(fanOut.Join).ToArray();
        using var published = new CancellationTokenSource();
        var churned = 0;

        // Publishes until the others have had their share of the time too, and returns the last value.
        var publisher = Task.Run(
            () =>
            {
                var i = 0;
                while (i < Values || Volatile.Read(ref churned) < ChurnRounds)
                {
                    fanOut.Publish(new Value(++i));
                    if (i % 100 == 0)
                    {
                        fanOut.Tick();
                    }
                }

                published.Cancel();
                return i;
            },
            TestContext.Current.CancellationToken);

        // Receivers joining, taking and leaving all the while; each only ever sees newer values.
        var churners = Enumerable.Range(0, Churners).Select(_ => Task.Run(
            () =>
            {
                var rounds = 0;
                while (!published.IsCancellationRequested || rounds == 0)
                {
                    var receiver = new Receiver();
                    using var subscription = fanOut.Join(receiver);
                    var last = 0;
                    for (var take = 0; take < 3; take++)
                    {
                        if (subscription.TryTake(out var value))
                        {
                            Assert.True(value.Number > last, $"took {value.Number} after {last}");
                            last = value.Number;
                        }
                    }

                    rounds++;
                    Interlocked.Increment(ref churned);
                }

                return rounds;
            },
            TestContext.Current.CancellationToken)).ToArray();

        // The stayers take on one loop of their own while it runs, also only ever newer values.
        var taker = Task.Run(
            () =>
            {
                var last = new int[stayed.Length];
                while (!published.IsCancellationRequested)
                {
                    for (var i = 0; i < stayed.Length; i++)
                    {
                        if (stayed[i].TryTake(out var value))
                        {
                            Assert.True(value.Number > last[i], $"took {value.Number} after {last[i]}");
                            last[i] = value.Number;
                        }
                    }
                }

                return last;
            },
            TestContext.Current.CancellationToken);

        var lastPublished = await publisher;
        Assert.All(await Task.WhenAll(churners), rounds => Assert.True(rounds > 0));
        var lastTaken = await taker;

        // Every churner left. A stayer that has not yet taken the last value is told at the next tick and takes
        // exactly it; one that has is left alone.
        Assert.Equal(stayers.Length, fanOut.Count);
        var toldBefore = stayers.Select(receiver => receiver.Told).ToArray();
        fanOut.Tick();
        for (var i = 0; i < stayers.Length; i++)
        {
            if (lastTaken[i] == lastPublished)
            {
                Assert.Equal(toldBefore[i], stayers[i].Told);
            }
            else
            {
                Assert.Equal(toldBefore[i] + 1, stayers[i].Told);
                Assert.True(stayed[i].TryTake(out var value));
                Assert.Equal(lastPublished, value.Number);
            }

            Assert.False(stayed[i].TryTake(out _));
            stayed[i].Dispose();
        }

        Assert.Equal(0, fanOut.Count);
        Assert.Equal(lastPublished, fanOut.Latest!.Number);
    }

    private sealed record Value(int Number);

    private sealed class Receiver
    {
        private int _told;

        public int Told => Volatile.Read(ref _told);

        public void TellDue() => Interlocked.Increment(ref _told);
    }
}
