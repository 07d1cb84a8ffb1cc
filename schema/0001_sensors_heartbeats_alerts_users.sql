-- Sensors 360 schema, version 1: operators, sensors, their heartbeats and silence alerts.
-- Applied once by DbUp (journal: public.schemaversions). Never edit an applied migration: add a new one.
-- The contract of these tables is documented in docs/database.md.

CREATE TABLE app_user (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text        NOT NULL,
    password_hash text        NOT NULL,
    role          text        NOT NULL DEFAULT 'operator' CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT app_user_username_key UNIQUE (username),
    CONSTRAINT app_user_username_length CHECK (char_length(username) BETWEEN 1 AND 64)
);

CREATE TABLE sensor (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The sensor's public id, as sensors and operators know it.
    name                      text        NOT NULL,
    tags                      text[]      NOT NULL DEFAULT '{}',
    created_at                timestamptz NOT NULL DEFAULT now(),
    first_heartbeat_at        timestamptz,
    last_heartbeat_at         timestamptz,
    heartbeat_count           bigint      NOT NULL DEFAULT 0 CHECK (heartbeat_count >= 0),
    retired_at                timestamptz,
    -- NULL: the configured default (Sensors360:Monitoring:SilenceThreshold) applies.
    silence_threshold_seconds integer CHECK (silence_threshold_seconds > 0),
    -- Hash of the sensor's bearer token; the token itself is never stored.
    token_hash                text        NOT NULL,
    CONSTRAINT sensor_name_key UNIQUE (name),
    CONSTRAINT sensor_name_format CHECK (name ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT sensor_heartbeats_ordered CHECK (first_heartbeat_at <= last_heartbeat_at)
);

-- Filtering sensors by tag (GET /api/sensors?tag=) uses tags @> ARRAY[...].
CREATE INDEX sensor_tags_idx ON sensor USING gin (tags);

-- Heartbeats: the record of every report, hundreds of millions of rows.
-- Range-partitioned by month on received_at, so old months are detached or dropped whole instead of
-- deleted row by row, and each month's indexes stay small enough to live in memory while written.
-- Within a month, the primary key (sensor_id, received_at) is the per-sensor time index, and a BRIN
-- index on received_at serves fleet-wide "last N minutes" scans at a tiny fraction of a b-tree's size.
-- The writer keeps received_at strictly increasing per sensor, so the key never collides.
CREATE TABLE heartbeat (
    sensor_id   bigint      NOT NULL REFERENCES sensor (id),
    received_at timestamptz NOT NULL,
    metrics     jsonb,
    CONSTRAINT heartbeat_pkey PRIMARY KEY (sensor_id, received_at)
) PARTITION BY RANGE (received_at);

CREATE INDEX heartbeat_received_at_brin ON heartbeat USING brin (received_at);

-- Rows outside every monthly partition land here rather than fail; ensure_heartbeat_partitions()
-- keeps the months ahead created so this stays empty.
CREATE TABLE heartbeat_default PARTITION OF heartbeat DEFAULT;

-- Creates the monthly partitions from the month of from_time for months_ahead further months.
-- Idempotent; called by every silo at start.
CREATE FUNCTION ensure_heartbeat_partitions(from_time timestamptz, months_ahead integer)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    month_start timestamptz := date_trunc('month', from_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    partition_name text;
BEGIN
    FOR i IN 0 .. months_ahead LOOP
        partition_name := format('heartbeat_%s', to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM'));
        IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF heartbeat FOR VALUES FROM (%L) TO (%L)',
                partition_name, month_start, month_start + interval '1 month');
        END IF;
        month_start := month_start + interval '1 month';
    END LOOP;
END;
$$;

-- Alerts raised for a sensor, e.g. when it stays silent past its threshold.
CREATE TABLE alert (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sensor_id       bigint      NOT NULL REFERENCES sensor (id),
    kind            text        NOT NULL CHECK (kind IN ('silent')),
    -- When the silence began: the last heartbeat plus the sensor's threshold.
    silent_since    timestamptz NOT NULL,
    raised_at       timestamptz NOT NULL,
    resolved_at     timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by bigint REFERENCES app_user (id),
    CONSTRAINT alert_resolved_after_raised CHECK (resolved_at IS NULL OR resolved_at >= raised_at),
    CONSTRAINT alert_acknowledged_together CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);

-- At most one open alert of a kind per sensor, enforced by the database so two silos racing to
-- raise the same silence cannot both succeed.
CREATE UNIQUE INDEX alert_one_open_per_sensor ON alert (sensor_id, kind) WHERE resolved_at IS NULL;

-- A sensor's alert history, newest first.
CREATE INDEX alert_sensor_raised_idx ON alert (sensor_id, raised_at DESC);

-- Open alerts across the fleet (dashboard, GET /api/alerts?state=open).
CREATE INDEX alert_open_raised_idx ON alert (raised_at DESC) WHERE resolved_at IS NULL;
