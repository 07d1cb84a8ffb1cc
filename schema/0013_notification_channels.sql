-- Sensors 360 schema, version 13: notification channels and their durable outbox (docs/database.md).
-- A trigger on alert writes an event row in the same transaction as every raise and resolve, whichever
-- statement made it, so no writer can forget a notification and a crash cannot lose one.

CREATE TABLE notification_channel (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 text        NOT NULL,
    kind                 text        NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    -- webhook and slack: where to POST.
    url                  text,
    -- email: host, port, tls, username, from, to (the password is in protected_secret).
    email                jsonb,
    -- The webhook's signing secret or the email password, encrypted with the server's data protection keys.
    protected_secret     text,
    -- A sensor matches when it has any of these tags; empty: every sensor.
    tags                 text[]      NOT NULL DEFAULT '{}',
    -- Event kinds sent; empty: all.
    events               text[]      NOT NULL DEFAULT '{}',
    repeat_every_seconds integer     NOT NULL DEFAULT 14400 CHECK (repeat_every_seconds > 0),
    created_at           timestamptz NOT NULL,
    CONSTRAINT notification_channel_name_key UNIQUE (name),
    CONSTRAINT notification_channel_target CHECK ((kind = 'email') = (email IS NOT NULL) AND (kind = 'email') = (url IS NULL))
);

-- The outbox: what happened to an alert, to be told to the matching channels. channel_id is set for a
-- reminder, which is for one channel; NULL means every matching channel.
CREATE TABLE notification_event (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('alert.raised', 'alert.resolved', 'alert.reminder')),
    alert_id     bigint      NOT NULL REFERENCES alert (id),
    channel_id   bigint REFERENCES notification_channel (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    -- Set when the event was turned into delivery rows (one transaction, so never half done).
    fanned_out_at timestamptz
);

CREATE INDEX notification_event_waiting_idx ON notification_event (id) WHERE fanned_out_at IS NULL;
CREATE INDEX notification_event_alert_idx ON notification_event (alert_id);

-- One row per event and channel: the delivery log. status: pending (not tried yet), failed (tried, will
-- retry at next_attempt_at), delivered, gave-up. claimed_until is the lease of the silo sending it now.
CREATE TABLE notification_delivery (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        bigint      NOT NULL REFERENCES notification_event (id) ON DELETE CASCADE,
    channel_id      bigint      NOT NULL REFERENCES notification_channel (id) ON DELETE CASCADE,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'failed', 'delivered', 'gave-up')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL,
    last_attempt_at timestamptz,
    next_attempt_at timestamptz NOT NULL,
    delivered_at    timestamptz,
    claimed_until   timestamptz,
    -- Which claim holds the lease, so a silo whose lease ran out cannot record over the next claim's result.
    claimed_by      uuid,
    CONSTRAINT notification_delivery_once UNIQUE (event_id, channel_id)
);

CREATE INDEX notification_delivery_due_idx ON notification_delivery (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX notification_delivery_channel_idx ON notification_delivery (channel_id, id DESC);

-- Runs in the transaction of the statement that raised or resolved the alert, so the event commits with it.
CREATE FUNCTION alert_notification_outbox() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO notification_event (kind, alert_id, at) VALUES ('alert.raised', NEW.id, NEW.raised_at);
    ELSIF OLD.resolved_at IS NULL AND NEW.resolved_at IS NOT NULL THEN
        INSERT INTO notification_event (kind, alert_id, at) VALUES ('alert.resolved', NEW.id, NEW.resolved_at);
    ELSE
        RETURN NULL;
    END IF;
    -- Wakes the dispatchers on commit (identical notifications of one transaction are sent once).
    PERFORM pg_notify('notification_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER alert_notification_outbox
AFTER INSERT OR UPDATE OF resolved_at ON alert
FOR EACH ROW EXECUTE FUNCTION alert_notification_outbox();
