-- Sensors 360 schema, version 7: why a sensor was retired. A sensor retired because it `failed` is a
-- death in the lifespan statistics; one `decommissioned` (replaced while working, site closed) is censored
-- at its last heartbeat (docs/analytics.md). Sensors retired before this version count as failed, as they did.
ALTER TABLE sensor ADD COLUMN retired_reason text
    CHECK (retired_reason IN ('failed', 'decommissioned'));
UPDATE sensor SET retired_reason = 'failed' WHERE retired_at IS NOT NULL;
ALTER TABLE sensor ADD CONSTRAINT sensor_retired_with_reason CHECK ((retired_at IS NULL) = (retired_reason IS NULL));

-- The view shows it too; columns are only added at the end.
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
LEFT JOIN alert a ON a.sensor_id = s.id AND a.kind = 'silent' AND a.resolved_at IS NULL
LEFT JOIN app_user u ON u.id = a.acknowledged_by;
