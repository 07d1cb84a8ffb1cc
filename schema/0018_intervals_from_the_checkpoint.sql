-- Sensors 360 schema: heartbeat_intervals_ending (schema/0017) starts its first interval at after_at itself. after_at is
-- always a sensor's checkpoint, the time of one of its heartbeats (the checkpoint and an import only ever set it to a
-- stored heartbeat's time), so the stored row there need not be looked for. 0017 looked for the last heartbeat at or
-- before it with max(), which on the month-partitioned table descends the key of every month up to it
-- (docs/performance.md, "The interval histogram's start probe"), and found none once retention had dropped that
-- month: the interval from a checkpoint older than the retained months to the next heartbeat went uncounted. Now the
-- function reads only the heartbeats after after_at, up to upto. (An import of history into that gap starts its spans
-- at stored heartbeats, so there that interval can still be lost or counted from the wrong heartbeat.)
CREATE OR REPLACE FUNCTION heartbeat_intervals_ending(sensor bigint, after_at timestamptz, upto timestamptz)
RETURNS TABLE (seconds float8)
LANGUAGE sql STABLE
AS $$
    SELECT date_part('epoch', x.at - x.previous)
    FROM (SELECT p.at, lag(p.at) OVER (ORDER BY p.at) AS previous
          FROM (SELECT after_at AS at WHERE after_at IS NOT NULL
                UNION ALL
                SELECT h.received_at FROM heartbeat h
                WHERE h.sensor_id = sensor AND h.received_at > coalesce(after_at, '-infinity') AND h.received_at <= upto) AS p) AS x
    WHERE x.previous IS NOT NULL
$$;
