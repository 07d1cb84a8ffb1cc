-- Sensors 360 schema: the interval histogram moves with the sensors' checkpoint, not with each heartbeat.
-- heartbeat_interval_histogram (schema/0008) now counts, for each sensor, exactly the intervals that end at or
-- before its checkpoint (sensor.last_heartbeat_at, schema/0016), like heartbeat_count: the silo's checkpoint
-- statement counts the intervals it passes from the heartbeat rows, and an import keeps the same rule. A
-- heartbeat's own transaction no longer writes the histogram.

-- The intervals (seconds) between consecutive heartbeats of a sensor that end after after_at (null: from its
-- first heartbeat) and at or before upto. The first of them starts at the last heartbeat at or before after_at,
-- which the key finds in one probe; the rest are read in one walk of the key. The one definition of "the
-- intervals a checkpoint passes", for the checkpoint, the import and this migration.
CREATE FUNCTION heartbeat_intervals_ending(sensor bigint, after_at timestamptz, upto timestamptz)
RETURNS TABLE (seconds float8)
LANGUAGE sql STABLE
AS $$
    SELECT date_part('epoch', x.at - x.previous)
    FROM (SELECT h.received_at AS at, lag(h.received_at) OVER (ORDER BY h.received_at) AS previous
          FROM heartbeat h
          WHERE h.sensor_id = sensor
            AND h.received_at >= coalesce((SELECT max(p.received_at) FROM heartbeat p
                                           WHERE p.sensor_id = sensor AND p.received_at <= after_at), '-infinity')
            AND h.received_at <= upto) AS x
    WHERE x.previous IS NOT NULL AND x.at > coalesce(after_at, '-infinity')
$$;

-- Until now every stored interval was counted, also those past a sensor's checkpoint (a checkpoint period's
-- worth, or more after a kill): they are taken out once, and the checkpoint that passes them counts them again.
-- Silos of the previous version count in the heartbeat's transaction, so all of them stop before this runs
-- (docs/operations.md, "Upgrading to schema 0017").
INSERT INTO heartbeat_interval_histogram AS h (shard, bucket, intervals)
SELECT 0, heartbeat_interval_bucket(i.seconds), -count(*)
FROM sensor s
CROSS JOIN LATERAL heartbeat_intervals_ending(s.id, s.last_heartbeat_at, 'infinity') AS i
GROUP BY 2
ON CONFLICT (shard, bucket) DO UPDATE SET intervals = h.intervals + excluded.intervals;
