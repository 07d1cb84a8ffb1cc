using System.Reflection;
using Microsoft.Extensions.Logging.Abstractions;
using Sensors360.Abstractions.Sensors;
using Sensors360.Server.Dashboard;
using Sensors360.Testing;

namespace Sensors360.Server.Tests.Dashboard;

/// <summary>
/// The silo's watch on subscribed sensors tells each sensor's grain one thing at a time, and last what its sockets
/// want now: an unwatch and a watch of the same sensor at once must not leave it unwatched until the renewal.
/// </summary>
public sealed class SensorWatchTests
{
    [Fact]
    public async Task A_watch_while_the_last_unwatch_is_under_way_waits_for_it_and_leaves_the_sensor_watched()
    {
        var grain = new HeldSensorGrain();
        var watch = new SensorWatch(GrainsOf(grain), directory: null!, NullLogger<SensorWatch>.Instance);
        using var first = Socket();
        using var second = Socket();

        var watching = watch.WatchAsync("boiler-7", first);
        grain.Complete("watch");
        await watching;

        // The first socket lets go, and before the grain has answered that, a second one subscribes.
        var unwatching = watch.UnwatchAsync("boiler-7", first);
        var rewatching = watch.WatchAsync("boiler-7", second);
        Assert.Equal(["watch", "unwatch"], grain.Calls);
        Assert.False(rewatching.IsCompleted, "the watch waits until the grain was told what the sockets want now");

        grain.Complete("unwatch");
        await Eventually.TrueAsync(() => Task.FromResult(grain.Calls.Count == 3), TimeSpan.FromSeconds(10), "the grain told to watch again");
        grain.Complete("watch");
        await Task.WhenAll(unwatching, rewatching);

        Assert.Equal(["watch", "unwatch", "watch"], grain.Calls);
        Assert.Equal(1, grain.MostAtOnce);
    }

    [Fact]
    public async Task Sockets_coming_and_going_at_once_end_with_the_grain_told_what_the_last_change_wants()
    {
        var grain = new HeldSensorGrain(answerAtOnce: true);
        var watch = new SensorWatch(GrainsOf(grain), directory: null!, NullLogger<SensorWatch>.Instance);
        var sockets = Enumerable.Range(0, 8).Select(_ => Socket()).ToArray();
        try
        {
            await Task.WhenAll(sockets.Select(socket => Task.Run(
                async () =>
                {
                    for (var round = 0; round < 200; round++)
                    {
                        await watch.WatchAsync("boiler-7", socket);
                        await watch.UnwatchAsync("boiler-7", socket);
                    }
                },
                TestContext.Current.CancellationToken)));
            Assert.Equal("unwatch", grain.Calls[^1]);

            await watch.WatchAsync("boiler-7", sockets[0]);
            Assert.Equal("watch", grain.Calls[^1]);
            Assert.Equal(1, grain.MostAtOnce);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    // Only its identity matters here: the watch keys its watchers by socket.
    private static DashboardSocket Socket() => new(null!, null!, null!, TimeProvider.System, NullLogger.Instance);

    private static IGrainFactory GrainsOf(HeldSensorGrain held)
    {
        var grain = DispatchProxy.Create<ISensorGrain, FakeSensorGrain>();
        ((FakeSensorGrain)(object)grain).Held = held;
        var grains = DispatchProxy.Create<IGrainFactory, FakeGrainFactory>();
        ((FakeGrainFactory)(object)grains).Grain = grain;
        return grains;
    }

    /// <summary>Hands out the one sensor grain, and observers as themselves (nothing here calls them remotely).</summary>
    public class FakeGrainFactory : DispatchProxy
    {
        internal ISensorGrain? Grain { get; set; }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            "GetGrain" => Grain,
            "CreateObjectReference" => args![0],
            _ => throw new NotSupportedException(targetMethod?.Name),
        };
    }

    /// <summary>The sensor grain's watch and unwatch, held by <see cref="HeldSensorGrain"/>; nothing else is called.</summary>
    public class FakeSensorGrain : DispatchProxy
    {
        internal HeldSensorGrain? Held { get; set; }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            "Watch" => Held!.Called("watch"),
            "Unwatch" => Held!.Called("unwatch"),
            _ => throw new NotSupportedException(targetMethod?.Name),
        };
    }

    /// <summary>A sensor grain's watch and unwatch calls, answered when the test says (or at once), counting how many were open at once.</summary>
    internal sealed class HeldSensorGrain(bool answerAtOnce = false)
    {
        private readonly Lock _gate = new();
        private readonly List<(string Call, TaskCompletionSource Answer)> _open = [];
        private readonly List<string> _calls = [];
        private int _atOnce;

        public List<string> Calls
        {
            get
            {
                lock (_gate)
                {
                    return [.. _calls];
                }
            }
        }

        public int MostAtOnce { get; private set; }

        /// <summary>Answers the oldest open call, which must be <paramref name="call"/>.</summary>
        public void Complete(string call)
        {
            TaskCompletionSource answer;
            lock (_gate)
            {
                Assert.Equal(call, _open[0].Call);
                answer = _open[0].Answer;
                _open.RemoveAt(0);
            }

            answer.SetResult();
        }

        public async Task Called(string call)
        {
            var answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_gate)
            {
                _calls.Add(call);
                MostAtOnce = Math.Max(MostAtOnce, ++_atOnce);
                if (!answerAtOnce)
                {
                    _open.Add((call, answer));
                }
            }

            if (!answerAtOnce)
            {
                await answer.Task;
            }
            else
            {
                await Task.Yield();
            }

            lock (_gate)
            {
                _atOnce--;
            }
        }
    }
}
