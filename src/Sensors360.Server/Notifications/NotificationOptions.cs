namespace Sensors360.Server.Notifications;

/// <summary>Settings under <c>Sensors360:Notifications</c>: how deliveries are sent and retried (docs/operations.md).</summary>
public sealed class NotificationOptions
{
    public const string Section = "Sensors360:Notifications";

    /// <summary>How long one attempt (an HTTP POST, an SMTP session) may take before it counts as failed.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The wait before the first retry; each further retry waits twice as long (with jitter), up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan FirstRetry { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>A delivery still failing this long after its event is given up.</summary>
    public TimeSpan GiveUpAfter { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often a silo looks at the outbox when no notification woke it (a missed wake costs at most this).</summary>
    public TimeSpan PollEvery { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long the outbox keeps what it is done with: the events of a resolved alert, and their delivery log, once
    /// the alert was resolved and every delivery finished (delivered or given up) longer ago than this. The events of
    /// an open alert are kept whatever their age: its reminders are timed from them.
    /// </summary>
    public TimeSpan KeepHistoryFor { get; set; } = TimeSpan.FromDays(90);

    /// <summary>How often a silo looks for history past <see cref="KeepHistoryFor"/>: every tenth of it, and at least once an hour.</summary>
    public TimeSpan HistoryCheckEvery => KeepHistoryFor / 10 < TimeSpan.FromHours(1) ? KeepHistoryFor / 10 : TimeSpan.FromHours(1);

    /// <summary>How long a silo's claim on a delivery lasts: one attempt, and a margin. A dead silo's claim expires after it.</summary>
    public TimeSpan ClaimLease => SendTimeout + TimeSpan.FromSeconds(10);

    /// <summary>The rule <see cref="TimingValid"/> checks, as the one line a server that breaks it stops with.</summary>
    public const string TimingRule =
        $"{Section}: SendTimeout, FirstRetry, GiveUpAfter and PollEvery must be positive TimeSpans (e.g. 00:00:10) and MaxRetryDelay at least FirstRetry; " +
        "SendTimeout, FirstRetry, MaxRetryDelay and PollEvery at most 1.00:00:00, GiveUpAfter at most 365.00:00:00.";

    // The upper bounds keep every wait within what timers and HttpClient take (about 24 days) and every deadline
    // within the calendar.
    public bool TimingValid =>
        SendTimeout > TimeSpan.Zero && FirstRetry > TimeSpan.Zero && MaxRetryDelay >= FirstRetry && GiveUpAfter > TimeSpan.Zero && PollEvery > TimeSpan.Zero
        && SendTimeout <= TimeSpan.FromDays(1) && MaxRetryDelay <= TimeSpan.FromDays(1) && PollEvery <= TimeSpan.FromDays(1)
        && GiveUpAfter <= TimeSpan.FromDays(365);

    /// <summary>The longest <see cref="KeepHistoryFor"/>: "forever" in practice, and still a cutoff the clock can subtract.</summary>
    public static readonly TimeSpan KeepHistoryAtMost = TimeSpan.FromDays(36_500);

    /// <summary>The rule <see cref="HistoryValid"/> checks, as the one line a server that breaks it stops with.</summary>
    public const string HistoryRule =
        $"{Section}:KeepHistoryFor must be from 00:00:01 to 36500.00:00:00 (100 years), e.g. 90.00:00:00 for 90 days.";

    public bool HistoryValid => KeepHistoryFor >= TimeSpan.FromSeconds(1) && KeepHistoryFor <= KeepHistoryAtMost;
}
