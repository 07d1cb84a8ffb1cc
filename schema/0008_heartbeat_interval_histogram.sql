-- Sensors 360 schema, version 8: the fleet's distribution of heartbeat intervals, kept as it happens, so
-- the median and the 95th percentile interval are read from a few hundred rows instead of computed over
-- every heartbeat (docs/database.md). A silent spell of days is one long interval among millions: it moves
-- the mean, not these.

-- Log-spaced buckets, 8 per doubling (each 9% wide) from 0.01 s; bucket 255 ends near 500 days.
CREATE FUNCTION heartbeat_interval_bucket(seconds float8) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN least(255, greatest(0, floor(ln(greatest(seconds, 0.01) / 0.01) / ln(2) * 8)))::smallint;

-- The interval a bucket stands for: its geometric middle, within 4.5% of anything in it.
CREATE FUNCTION heartbeat_interval_bucket_seconds(bucket smallint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 0.01 * power(2, (bucket + 0.5) / 8.0);

-- Each heartbeat writer adds to its own shard (a random number per writer and process start), so
-- writers never wait for each other's rows; imports add to shard 0, and may take out there intervals a
-- writer counted (a heartbeat imported between two stored ones splits their interval), so one shard can
-- go below zero. Readers sum over the shards.
CREATE TABLE heartbeat_interval_histogram (
    shard     integer  NOT NULL,
    bucket    smallint NOT NULL CHECK (bucket BETWEEN 0 AND 255),
    intervals bigint   NOT NULL,
    PRIMARY KEY (shard, bucket)
);

-- The intervals already stored, once.
INSERT INTO heartbeat_interval_histogram (shard, bucket, intervals)
SELECT 0, heartbeat_interval_bucket(gap), count(*)
FROM (SELECT extract(epoch FROM received_at - lag(received_at) OVER (PARTITION BY sensor_id ORDER BY received_at))::float8 AS gap
      FROM heartbeat) AS gaps
WHERE gap IS NOT NULL
GROUP BY 2;

-- The interval below which the given fraction of all intervals fall (to the bucket); null before any interval.
CREATE FUNCTION heartbeat_interval_percentile(fraction float8) RETURNS float8
LANGUAGE sql STABLE
RETURN (
    SELECT heartbeat_interval_bucket_seconds(bucket)
    FROM (SELECT bucket, sum(sum(intervals)) OVER (ORDER BY bucket) AS running, sum(sum(intervals)) OVER () AS total
          FROM heartbeat_interval_histogram
          GROUP BY bucket) AS cumulative
    WHERE total > 0 AND running >= fraction * total
    ORDER BY bucket
    LIMIT 1);
