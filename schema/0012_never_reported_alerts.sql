-- Sensors 360 schema, version 12: a sensor provisioned but never heard from is alerted like a silent one.
-- Its alert is of kind 'never-reported' (silence counted from provisioning); a first heartbeat resolves it.
ALTER TABLE alert DROP CONSTRAINT alert_kind_check;
ALTER TABLE alert ADD CONSTRAINT alert_kind_check CHECK (kind IN ('silent', 'never-reported'));

-- One open alert per sensor, whatever its kind (was: per sensor and kind). A sensor is silent or has never
-- reported, never both, so the silence sweep, a sensor's timer and a silo racing either cannot open two.
-- Every alert so far is 'silent', so the old rule already kept this one.
DROP INDEX alert_one_open_per_sensor;
CREATE UNIQUE INDEX alert_one_open_per_sensor ON alert (sensor_id) WHERE resolved_at IS NULL;

-- Either kind makes the sensor silent (and counts in the fleet's silent share). Only the join changes:
-- CREATE OR REPLACE VIEW keeps the columns as they were.
CREATE OR REPLACE VIEW sensor_status AS
SELECT s.id, s.name, s.tags, s.created_at, s.first_heartbeat_at, s.last_heartbeat_at, s.heartbeat_count,
       s.retired_at, s.silence_threshold_seconds, s.token_hash,
       a.id AS open_alert_id, a.silent_since AS open_alert_silent_since, a.raised_at AS open_alert_raised_at,
       CASE WHEN s.retired_at IS NOT NULL THEN 'retired'
            WHEN a.id IS NOT NULL THEN 'silent'
            WHEN s.first_heartbeat_at IS NULL THEN 'pending'
            ELSE 'online' END AS status,
       a.kind AS open_alert_kind, a.acknowledged_at AS open_alert_acknowledged_at, u.username AS open_alert_acknowledged_by,
       s.retired_reason
FROM sensor s
LEFT JOIN alert a ON a.sensor_id = s.id AND a.kind IN ('silent', 'never-reported') AND a.resolved_at IS NULL
LEFT JOIN app_user u ON u.id = a.acknowledged_by;
