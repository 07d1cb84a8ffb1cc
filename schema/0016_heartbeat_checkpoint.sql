-- Sensors 360 schema: a sensor's heartbeat counters are checkpointed, not updated per heartbeat.
-- sensor.first_heartbeat_at, last_heartbeat_at and heartbeat_count are now a checkpoint that each silo writes in
-- bulk every few seconds (SensorCheckpoint): every heartbeat at or before last_heartbeat_at is counted in it,
-- none after. The heartbeat rows are the record; what they hold past the checkpoint is added by this view, so a
-- reader of one sensor (its grain on activation, the API) sees every committed heartbeat. One probe of the
-- heartbeat key (sensor_id, received_at) per sensor, in the partitions from the checkpoint's month on.
-- Whole-fleet readers (the fleet aggregate, the sweep's first filter) read sensor_status: the checkpoint.
CREATE VIEW sensor_status_rebuilt AS
SELECT v.id, v.name, v.tags, v.created_at,
       coalesce(v.first_heartbeat_at, later.first_at) AS first_heartbeat_at,
       coalesce(later.last_at, v.last_heartbeat_at) AS last_heartbeat_at,
       v.heartbeat_count + later.n AS heartbeat_count,
       v.retired_at, v.silence_threshold_seconds, v.token_hash,
       v.open_alert_id, v.open_alert_silent_since, v.open_alert_raised_at,
       -- Pending only while nothing was ever stored, counted or not.
       CASE WHEN v.status = 'pending' AND later.n > 0 THEN 'online' ELSE v.status END AS status,
       v.open_alert_kind, v.open_alert_acknowledged_at, v.open_alert_acknowledged_by,
       v.retired_reason,
       CASE WHEN v.lifecycle_status = 'pending' AND later.n > 0 THEN 'online' ELSE v.lifecycle_status END AS lifecycle_status,
       v.paused_until, v.own_paused_until, v.paused_reason,
       v.last_heartbeat_at AS checkpoint_last_heartbeat_at,
       later.n AS heartbeats_after_checkpoint
FROM sensor_status v
CROSS JOIN LATERAL (SELECT count(*) AS n, min(h.received_at) AS first_at, max(h.received_at) AS last_at
                    FROM heartbeat h
                    WHERE h.sensor_id = v.id AND h.received_at > coalesce(v.last_heartbeat_at, '-infinity')) AS later;
