using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Time.Testing;
using Sensors360.Server.Notifications;

namespace Sensors360.Server.Tests.Notifications;

public sealed class NotificationWakeTests
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(2);

    // A wait that should already be over, or about to be: a broken one fails the test instead of hanging it.
    private static Task Bounded(Task wait) => wait.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

    [Fact]
    public async Task A_quiet_poll_ends_after_its_timeout_and_throws_nothing_on_the_way()
    {
        var time = new FakeTimeProvider();
        var wake = new NotificationWake();
        // Exceptions thrown in this test's own async flow only (other tests run beside it in this process).
        var inThisTest = new AsyncLocal<bool> { Value = true };
        var thrown = new List<Exception>();
        void Count(object? sender, FirstChanceExceptionEventArgs e)
        {
            if (inThisTest.Value)
            {
                lock (thrown)
                {
                    thrown.Add(e.Exception);
                }
            }
        }

        AppDomain.CurrentDomain.FirstChanceException += Count;
        try
        {
            for (var poll = 0; poll < 5; poll++)
            {
                var waiting = wake.WaitAsync(Poll, time, CancellationToken.None);
                time.Advance(Poll - TimeSpan.FromMilliseconds(1));
                Assert.False(waiting.IsCompleted);
                time.Advance(TimeSpan.FromMilliseconds(1));
                await Bounded(waiting);
                Assert.True(waiting.IsCompletedSuccessfully);
            }
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= Count;
        }

        lock (thrown)
        {
            Assert.Empty(thrown);
        }
    }

    [Fact]
    public async Task A_signal_after_quiet_polls_wakes_the_next_wait_at_once_and_signals_fold_into_one()
    {
        var time = new FakeTimeProvider();
        var wake = new NotificationWake();
        for (var poll = 0; poll < 3; poll++)
        {
            var quiet = wake.WaitAsync(Poll, time, CancellationToken.None);
            time.Advance(Poll);
            await Bounded(quiet);
        }

        // Signalled while a wait is out: it returns with no time passing.
        var waiting = wake.WaitAsync(Poll, time, CancellationToken.None);
        wake.Signal();
        await Bounded(waiting);

        // Signalled twice between waits: the next wait returns at once, the one after waits for its timeout.
        wake.Signal();
        wake.Signal();
        await Bounded(wake.WaitAsync(Poll, time, CancellationToken.None));
        var after = wake.WaitAsync(Poll, time, CancellationToken.None);
        time.Advance(Poll - TimeSpan.FromMilliseconds(1));
        Assert.False(after.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Bounded(after);
    }

    [Fact]
    public async Task A_wait_cancelled_by_its_caller_throws()
    {
        var time = new FakeTimeProvider();
        var wake = new NotificationWake();
        using var stopping = new CancellationTokenSource();
        var waiting = wake.WaitAsync(Poll, time, stopping.Token);
        await stopping.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Bounded(waiting));

        // The wait for a signal stays usable after a cancelled one: quiet until signalled, then woken.
        var next = wake.WaitAsync(Poll, time, CancellationToken.None);
        time.Advance(Poll - TimeSpan.FromMilliseconds(1));
        Assert.False(next.IsCompleted);
        wake.Signal();
        await Bounded(next);
    }
}
