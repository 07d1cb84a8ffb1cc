-- Sensors 360 schema, version 14: pausing a sensor and maintenance windows by tag. A paused sensor, or one
-- whose tags meet a running maintenance window, raises no silence alert and shows as 'paused'.

-- The sensor's own pause as it stands: until when (may be past: then it is over), and why. Its history, for
-- uptime, is sensor_pause.
ALTER TABLE sensor ADD COLUMN paused_until timestamptz, ADD COLUMN paused_reason text;

-- Every pause a sensor had, so uptime can leave paused time out of what was monitored. A resume ends the
-- running one (ends_at = then); a pause while paused moves ends_at of the running one.
CREATE TABLE sensor_pause (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sensor_id bigint      NOT NULL REFERENCES sensor (id),
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL,
    reason    text,
    paused_by text,
    CHECK (ends_at >= starts_at)
);
CREATE INDEX sensor_pause_sensor_idx ON sensor_pause (sensor_id, ends_at);

-- A maintenance window covers every sensor with at least one of its tags, from starts_at to ends_at.
CREATE TABLE maintenance_window (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    tags       text[]      NOT NULL CHECK (cardinality(tags) > 0),
    reason     text,
    created_by text,
    created_at timestamptz NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX maintenance_window_ends_idx ON maintenance_window (ends_at);

-- Paused comes after retired and before silent: an alert open when the pause began stays open as history,
-- but the sensor shows paused (and leaves the silent share). lifecycle_status is the status without pauses,
-- which the sensor's grain works from; paused_until is when the pause (own or maintenance) now running ends.
-- Columns are only added at the end: CREATE OR REPLACE VIEW keeps the existing ones as they were.
CREATE OR REPLACE VIEW sensor_status AS
SELECT s.id, s.name, s.tags, s.created_at, s.first_heartbeat_at, s.last_heartbeat_at, s.heartbeat_count,
       s.retired_at, s.silence_threshold_seconds, s.token_hash,
       a.id AS open_alert_id, a.silent_since AS open_alert_silent_since, a.raised_at AS open_alert_raised_at,
       CASE WHEN l.status <> 'retired' AND p.until IS NOT NULL THEN 'paused' ELSE l.status END AS status,
       a.kind AS open_alert_kind, a.acknowledged_at AS open_alert_acknowledged_at, u.username AS open_alert_acknowledged_by,
       s.retired_reason,
       l.status AS lifecycle_status,
       CASE WHEN l.status <> 'retired' THEN p.until END AS paused_until,
       s.paused_until AS own_paused_until,
       s.paused_reason
FROM sensor s
LEFT JOIN alert a ON a.sensor_id = s.id AND a.kind IN ('silent', 'never-reported') AND a.resolved_at IS NULL
LEFT JOIN app_user u ON u.id = a.acknowledged_by
CROSS JOIN LATERAL (SELECT CASE WHEN s.retired_at IS NOT NULL THEN 'retired'
                                WHEN a.id IS NOT NULL THEN 'silent'
                                WHEN s.first_heartbeat_at IS NULL THEN 'pending'
                                ELSE 'online' END AS status) AS l
CROSS JOIN LATERAL (SELECT greatest(CASE WHEN s.paused_until > now() THEN s.paused_until END,
                                    -- Uncorrelated, so run once per query: with no window running (the usual case)
                                    -- a scan of the whole fleet does not look for one per sensor.
                                    CASE WHEN (SELECT EXISTS (SELECT 1 FROM maintenance_window
                                                              WHERE ends_at > now() AND starts_at <= now()))
                                         THEN (SELECT max(w.ends_at) FROM maintenance_window w
                                               WHERE w.ends_at > now() AND w.starts_at <= now() AND w.tags && s.tags) END) AS until) AS p;
