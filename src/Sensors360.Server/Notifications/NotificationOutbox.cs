using Npgsql;
using NpgsqlTypes;
using Sensors360.Abstractions.Alerts;
using Sensors360.Server.Database;

namespace Sensors360.Server.Notifications;

/// <summary>A delivery a silo has claimed: the event, the alert as it stands, and the channel to send it to.</summary>
public sealed record ClaimedDelivery(
    long Id, long EventId, string Event, DateTimeOffset At, DateTimeOffset CreatedAt, int Attempts,
    Alert Alert, string[] SensorTags, long ChannelId, ChannelDraft Channel)
{
    /// <summary>Stable per event and channel, so a receiver can drop a delivery it already has.</summary>
    public string IdempotencyKey => NotificationOutbox.IdempotencyKey(EventId, ChannelId);
}

/// <summary>One row of a channel's delivery log, as <c>GET /api/channels/{id}/deliveries</c> returns it.</summary>
public sealed record DeliveryResponse(
    long Id, long EventId, string Event, long AlertId, string SensorId, string Status, int Attempts, string? LastError,
    DateTimeOffset CreatedAt, DateTimeOffset? LastAttemptAt, DateTimeOffset? NextAttemptAt, DateTimeOffset? DeliveredAt, string IdempotencyKey);

public sealed record DeliveryPageResponse(IReadOnlyList<DeliveryResponse> Items, string? NextCursor);

/// <summary>
/// The SQL of the outbox: events (written by the trigger on <c>alert</c>, and reminders) become one delivery row per
/// matching channel; silos claim due deliveries with a lease (<c>FOR UPDATE SKIP LOCKED</c>, so two silos never claim
/// the same row) and record each attempt.
/// </summary>
public sealed class NotificationOutbox(NpgsqlDataSource dataSource, ChannelStore channels)
{
    /// <summary>The channel the trigger on <c>alert</c> notifies on commit.</summary>
    public const string WakeChannel = "notification_outbox";

    private const int FanOutBatch = 500;

    public static string IdempotencyKey(long eventId, long channelId) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"sensors360-{eventId}-{channelId}");

    /// <summary>
    /// Turns waiting events into delivery rows for every matching channel (tag filter: the sensor has any of the
    /// channel's tags; event filter: the kind is listed; empty: all), in one statement, so an event is fanned out
    /// whole or not at all. The number of events handled; a full batch means there may be more.
    /// </summary>
    public async Task<int> FanOutAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            WITH picked AS (
                SELECT id, kind, alert_id, channel_id FROM notification_event
                WHERE fanned_out_at IS NULL ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED),
            made AS (
                INSERT INTO notification_delivery (event_id, channel_id, created_at, next_attempt_at)
                SELECT p.id, c.id, $1, $1
                FROM picked p
                JOIN alert a ON a.id = p.alert_id
                JOIN sensor s ON s.id = a.sensor_id
                JOIN notification_channel c ON (p.channel_id IS NULL OR c.id = p.channel_id)
                    AND (cardinality(c.events) = 0 OR p.kind = ANY (c.events))
                    AND (cardinality(c.tags) = 0 OR s.tags && c.tags)
                ON CONFLICT ON CONSTRAINT notification_delivery_once DO NOTHING)
            UPDATE notification_event e SET fanned_out_at = $1 FROM picked p WHERE e.id = p.id
            """);
        command.Parameters.AddWithValue(now);
        command.Parameters.AddWithValue(FanOutBatch);
        var handled = await command.ExecuteNonQueryAsync(cancellationToken);
        return handled;
    }

    /// <summary>
    /// Queues an <c>alert.reminder</c> for each open, unacknowledged alert and each matching channel whose
    /// <c>repeat_every</c> has passed since that channel was last told about the alert (or since it was raised,
    /// for a channel that never was). One silo at a time (an advisory lock), and never while an earlier event
    /// for the pair still waits, so no reminder is queued twice. This query is the one place that decides who
    /// is reminded: a retired or paused sensor (its own pause or a maintenance window) is left out. The number queued.
    /// </summary>
    public async Task<int> QueueRemindersAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var locked = new NpgsqlCommand("SELECT pg_try_advisory_xact_lock($1)", connection, transaction))
        {
            locked.Parameters.AddWithValue(AdvisoryLocks.NotificationReminders);
            if (await locked.ExecuteScalarAsync(cancellationToken) is not true)
            {
                return 0;
            }
        }

        await using var command = new NpgsqlCommand("""
            INSERT INTO notification_event (kind, alert_id, channel_id, at)
            SELECT 'alert.reminder', a.id, c.id, $1
            FROM notification_channel c
            JOIN alert a ON a.resolved_at IS NULL AND a.acknowledged_at IS NULL
            JOIN sensor_status s ON s.id = a.sensor_id AND s.status NOT IN ('retired', 'paused')
            WHERE (cardinality(c.events) = 0 OR 'alert.reminder' = ANY (c.events))
              AND (cardinality(c.tags) = 0 OR s.tags && c.tags)
              AND coalesce(
                    (SELECT max(d.created_at) FROM notification_delivery d JOIN notification_event e ON e.id = d.event_id
                     WHERE d.channel_id = c.id AND e.alert_id = a.id),
                    a.raised_at) <= $1 - make_interval(secs => c.repeat_every_seconds)
              AND NOT EXISTS (
                    SELECT 1 FROM notification_event w
                    WHERE w.alert_id = a.id AND w.fanned_out_at IS NULL AND (w.channel_id IS NULL OR w.channel_id = c.id))
            """, connection, transaction);
        command.Parameters.AddWithValue(now);
        var queued = await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return queued;
    }

    /// <summary>
    /// Deletes the whole notification log (events, and by cascade their delivery rows) of at most
    /// <paramref name="count"/> alerts resolved before <paramref name="before"/> whose events were all fanned out before
    /// it and have no delivery still to send: an alert with one delivery still to go keeps all its events. Each alert's
    /// events go in one statement, so a log is never left half deleted. Alerts another silo is trimming are skipped,
    /// not waited for. Returns the alerts whose logs went, and the events deleted.
    /// </summary>
    public async Task<(int Alerts, int Events)> DeleteHistoryAsync(DateTimeOffset before, int count, CancellationToken cancellationToken)
    {
        // Alert first: each alert's events are walked once (notification_event_alert_idx), not once per event.
        await using var command = dataSource.CreateCommand("""
            WITH done AS (
                SELECT a.id FROM alert a
                WHERE a.resolved_at < $1
                  AND EXISTS (SELECT 1 FROM notification_event e WHERE e.alert_id = a.id)
                  AND NOT EXISTS (
                      SELECT 1 FROM notification_event e
                      WHERE e.alert_id = a.id
                        AND (e.fanned_out_at IS NULL OR e.fanned_out_at >= $1
                             OR EXISTS (SELECT 1 FROM notification_delivery d WHERE d.event_id = e.id AND d.status IN ('pending', 'failed'))))
                ORDER BY a.id
                LIMIT $2
                FOR NO KEY UPDATE OF a SKIP LOCKED),
            gone AS (
                DELETE FROM notification_event e USING done WHERE e.alert_id = done.id RETURNING e.id)
            SELECT (SELECT count(*) FROM done)::int, (SELECT count(*) FROM gone)::int
            """);
        command.Parameters.AddWithValue(before);
        command.Parameters.AddWithValue(count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt32(0), reader.GetInt32(1));
    }

    /// <summary>
    /// Claims up to <paramref name="count"/> due deliveries for <paramref name="lease"/>: not yet sent, due, and not
    /// claimed by a silo whose lease still runs. Committed at once, so the lease, not a held lock, keeps other silos off.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedDelivery>> ClaimAsync(
        DateTimeOffset now, TimeSpan lease, Guid claim, int count, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            WITH due AS (
                SELECT d.id FROM notification_delivery d
                WHERE d.status IN ('pending', 'failed') AND d.next_attempt_at <= $1
                  AND (d.claimed_until IS NULL OR d.claimed_until < $1)
                ORDER BY d.next_attempt_at LIMIT $4
                FOR UPDATE SKIP LOCKED),
            claimed AS (
                UPDATE notification_delivery d SET claimed_until = $2, claimed_by = $3
                FROM due WHERE d.id = due.id
                RETURNING d.id, d.event_id, d.channel_id, d.attempts, d.created_at)
            SELECT c.id, c.event_id, e.kind, e.at, c.created_at, c.attempts,
                   a.id, s.name, a.kind, a.silent_since, a.raised_at, a.resolved_at, a.acknowledged_at, u.username, s.tags,
                   c.channel_id, ch.name, ch.kind, ch.url, ch.email, ch.protected_secret, ch.tags, ch.events, ch.repeat_every_seconds
            FROM claimed c
            JOIN notification_event e ON e.id = c.event_id
            JOIN alert a ON a.id = e.alert_id
            JOIN sensor s ON s.id = a.sensor_id
            LEFT JOIN app_user u ON u.id = a.acknowledged_by
            JOIN notification_channel ch ON ch.id = c.channel_id
            """);
        command.Parameters.AddWithValue(now);
        command.Parameters.AddWithValue(now + lease);
        command.Parameters.AddWithValue(claim);
        command.Parameters.AddWithValue(count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var claimed = new List<ClaimedDelivery>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var alert = new Alert(
                reader.GetInt64(6), reader.GetString(7), reader.GetString(8),
                reader.GetFieldValue<DateTimeOffset>(9), reader.GetFieldValue<DateTimeOffset>(10),
                reader.IsDBNull(11) ? null : reader.GetFieldValue<DateTimeOffset>(11),
                reader.IsDBNull(12) ? null : reader.GetFieldValue<DateTimeOffset>(12),
                reader.IsDBNull(13) ? null : reader.GetString(13));
            var channel = new ChannelDraft(
                reader.GetString(16), reader.GetString(17), reader.IsDBNull(18) ? null : reader.GetString(18),
                ChannelStore.ReadEmail(reader.IsDBNull(19) ? null : reader.GetString(19)),
                reader.GetFieldValue<string[]>(21), reader.GetFieldValue<string[]>(22), TimeSpan.FromSeconds(reader.GetInt32(23)),
                channels.Unprotect(reader.IsDBNull(20) ? null : reader.GetString(20)));
            claimed.Add(new ClaimedDelivery(
                reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3),
                reader.GetFieldValue<DateTimeOffset>(4), reader.GetInt32(5), alert, reader.GetFieldValue<string[]>(14),
                reader.GetInt64(15), channel));
        }

        return claimed;
    }

    /// <summary>
    /// Records an attempt of a delivery this claim holds and releases it. When the lease ran out and another silo
    /// claimed it meanwhile, nothing is written (false): that silo's attempt is the one on record.
    /// </summary>
    public async Task<bool> RecordAsync(
        long id, Guid claim, DateTimeOffset at, string status, string? error, DateTimeOffset? nextAttemptAt, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE notification_delivery
            SET attempts = attempts + 1, last_attempt_at = $3, status = $4, last_error = coalesce($5, last_error),
                next_attempt_at = coalesce($6, next_attempt_at),
                delivered_at = CASE WHEN $4 = 'delivered' THEN $3 END,
                claimed_until = NULL, claimed_by = NULL
            WHERE id = $1 AND claimed_by = $2
            """);
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(claim);
        command.Parameters.AddWithValue(at);
        command.Parameters.AddWithValue(status);
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)error ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = (object?)nextAttemptAt ?? DBNull.Value });
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>A channel's deliveries, newest first, with ids below <paramref name="beforeId"/> when given.</summary>
    public async Task<IReadOnlyList<DeliveryResponse>> ListAsync(long channelId, long? beforeId, int count, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT d.id, d.event_id, e.kind, e.alert_id, s.name, d.status, d.attempts, d.last_error,
                   d.created_at, d.last_attempt_at, d.next_attempt_at, d.delivered_at, d.channel_id
            FROM notification_delivery d
            JOIN notification_event e ON e.id = d.event_id
            JOIN alert a ON a.id = e.alert_id
            JOIN sensor s ON s.id = a.sensor_id
            WHERE d.channel_id = $1 AND ($2::bigint IS NULL OR d.id < $2)
            ORDER BY d.id DESC LIMIT $3
            """);
        command.Parameters.AddWithValue(channelId);
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint, Value = (object?)beforeId ?? DBNull.Value });
        command.Parameters.AddWithValue(count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var deliveries = new List<DeliveryResponse>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var status = reader.GetString(5);
            var waiting = status is "pending" or "failed";
            deliveries.Add(new DeliveryResponse(
                reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetInt64(3), reader.GetString(4), status,
                reader.GetInt32(6), reader.IsDBNull(7) ? null : reader.GetString(7), reader.GetFieldValue<DateTimeOffset>(8),
                reader.IsDBNull(9) ? null : reader.GetFieldValue<DateTimeOffset>(9),
                waiting ? reader.GetFieldValue<DateTimeOffset>(10) : null,
                reader.IsDBNull(11) ? null : reader.GetFieldValue<DateTimeOffset>(11),
                IdempotencyKey(reader.GetInt64(1), reader.GetInt64(12))));
        }

        return deliveries;
    }
}
