-- Sensors 360 schema, version 5: one definition of a sensor's status for every reader.
-- Retired first; then silent while its silence alert is open (what its grain decided); then pending
-- before the first heartbeat; else online. The API's sensor reads and the fleet aggregate read it here.
CREATE VIEW sensor_status AS
SELECT s.id, s.name, s.tags, s.created_at, s.first_heartbeat_at, s.last_heartbeat_at, s.heartbeat_count,
       s.retired_at, s.silence_threshold_seconds, s.token_hash,
       a.id AS open_alert_id, a.silent_since AS open_alert_silent_since, a.raised_at AS open_alert_raised_at,
       CASE WHEN s.retired_at IS NOT NULL THEN 'retired'
            WHEN a.id IS NOT NULL THEN 'silent'
            WHEN s.first_heartbeat_at IS NULL THEN 'pending'
            ELSE 'online' END AS status
FROM sensor s
LEFT JOIN alert a ON a.sensor_id = s.id AND a.kind = 'silent' AND a.resolved_at IS NULL;
