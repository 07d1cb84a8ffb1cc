using Sensors360.Server.Notifications;

namespace Sensors360.Server.Tests.Notifications;

public sealed class BackoffTests
{
    private static readonly NotificationOptions Settings = new() { FirstRetry = TimeSpan.FromSeconds(1), MaxRetryDelay = TimeSpan.FromMinutes(30) };

    [Fact]
    public void Each_retry_waits_between_half_and_all_of_a_doubling_delay_capped_at_the_maximum()
    {
        for (var attempt = 1; attempt <= 40; attempt++)
        {
            var full = TimeSpan.FromSeconds(Math.Min(Math.Pow(2, Math.Min(attempt - 1, 30)), Settings.MaxRetryDelay.TotalSeconds));
            for (var draw = 0; draw < 50; draw++)
            {
                var wait = NotificationDispatcher.Backoff(attempt, Settings);
                Assert.InRange(wait, full / 2, full);
            }
        }
    }

    [Fact]
    public void Retries_with_the_default_settings_span_the_24_hours_before_giving_up_in_a_few_dozen_attempts()
    {
        var defaults = new NotificationOptions();
        var attempts = 0;
        var elapsed = TimeSpan.Zero;
        while (elapsed < defaults.GiveUpAfter)
        {
            elapsed += NotificationDispatcher.Backoff(++attempts, defaults);
        }

        Assert.InRange(attempts, 50, 110);
    }
}
