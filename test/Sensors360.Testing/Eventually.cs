using System.Diagnostics;

namespace Sensors360.Testing;

/// <summary>Polls a condition until it holds or a deadline passes; the test's alternative to sleeping.</summary>
public static class Eventually
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Returns once <paramref name="condition"/> is true, asked every <paramref name="every"/> (100 ms unless given: more
    /// when each try costs something, such as a refusal counted against a limit); fails with <paramref name="what"/> at the deadline.
    /// </summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, TimeSpan? every = null)
    {
        // A zero interval would spin: Task.Delay(0) returns at once.
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(every ?? Interval, TimeSpan.Zero, nameof(every));
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < timeout)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                last = e;
            }

            await Task.Delay(every ?? Interval);
        }

        throw new TimeoutException($"Not true within {timeout.TotalSeconds:0.#} s: {what}.{(last is null ? "" : $" Last error: {last.Message}")}");
    }

    /// <summary>Polls <paramref name="probe"/> until it returns a value that <paramref name="accept"/> accepts, and returns it.</summary>
    public static async Task<T> MatchesAsync<T>(Func<Task<T>> probe, Func<T, bool> accept, TimeSpan timeout, string what)
    {
        T value = default!;
        var seen = false;
        try
        {
            await TrueAsync(async () => { value = await probe(); seen = true; return accept(value); }, timeout, what);
        }
        catch (TimeoutException e) when (seen)
        {
            throw new TimeoutException($"{e.Message} Last value: {value}", e);
        }

        return value;
    }
}
