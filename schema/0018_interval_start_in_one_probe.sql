-- Sensors 360 schema: heartbeat_intervals_ending (schema/0017) finds the heartbeat its first interval starts from in
-- one probe. A checkpoint is nearly always a stored heartbeat, so the key is probed for it exactly first, which
-- prunes to its month's partition; only when it is not stored (a row retention dropped, a time between rows) is the
-- last one before it looked up, which descends the key of every month up to it (docs/performance.md, "The interval
-- histogram's start probe"). The intervals returned are the same.
CREATE OR REPLACE FUNCTION heartbeat_intervals_ending(sensor bigint, after_at timestamptz, upto timestamptz)
RETURNS TABLE (seconds float8)
LANGUAGE sql STABLE
AS $$
    SELECT date_part('epoch', x.at - x.previous)
    FROM (SELECT h.received_at AS at, lag(h.received_at) OVER (ORDER BY h.received_at) AS previous
          FROM heartbeat h
          WHERE h.sensor_id = sensor
            AND h.received_at >= coalesce((SELECT p.received_at FROM heartbeat p
                                           WHERE p.sensor_id = sensor AND p.received_at = after_at),
                                          (SELECT max(p.received_at) FROM heartbeat p
                                           WHERE p.sensor_id = sensor AND p.received_at <= after_at),
                                          '-infinity')
            AND h.received_at <= upto) AS x
    WHERE x.previous IS NOT NULL AND x.at > coalesce(after_at, '-infinity')
$$;
