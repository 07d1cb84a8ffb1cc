-- Sensors 360 schema, version 4: heartbeats keep no foreign key to sensor.
-- The key cost a referential-integrity trigger per inserted row (a lookup and a row lock on sensor),
-- which the ingest benchmark showed to be a large share of the write cost. The only writer
-- (HeartbeatLog) writes the ids of sensors its grains loaded, and sensors are retired, never deleted,
-- so the key guarded against nothing that can happen. See docs/performance.md.
ALTER TABLE heartbeat DROP CONSTRAINT IF EXISTS heartbeat_sensor_id_fkey;
