-- Sensors 360 schema: retention drops archived heartbeat months without DDL rights.
-- drop_heartbeat_partition(month, archived_rows) detaches and drops the monthly partition heartbeat_YYYY_MM
-- once the server has written that month to its archive (HeartbeatRetention). Dropping a table is the
-- owner's right, so, like ensure_heartbeat_partitions (schema/0011), it runs as its owner with a pinned
-- search_path; it can drop nothing else: only a monthly partition of heartbeat, only one that ended more
-- than a month ago by the database's clock (the smallest retention), and only when it holds exactly the
-- rows the archive holds (counted after the detach, which locks it, so no row can arrive unarchived).
-- Returns false when the month has no partition (already dropped, e.g. by another silo).
CREATE FUNCTION drop_heartbeat_partition(month_start timestamptz, archived_rows bigint)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    month_utc timestamp := date_trunc('month', month_start AT TIME ZONE 'UTC');
    partition_name text := format('heartbeat_%s', to_char(month_utc, 'YYYY_MM'));
    partition_oid regclass;
    stored bigint;
BEGIN
    IF month_start IS NULL OR archived_rows IS NULL OR month_start <> (month_utc AT TIME ZONE 'UTC') THEN
        RAISE EXCEPTION 'drop_heartbeat_partition: % is not the start of a month (UTC)', month_start;
    END IF;

    IF ((month_utc + interval '1 month') AT TIME ZONE 'UTC') > now() - interval '1 month' THEN
        RAISE EXCEPTION 'drop_heartbeat_partition: % ended less than a month ago and is kept', partition_name;
    END IF;

    partition_oid := to_regclass(partition_name);
    IF partition_oid IS NULL OR NOT EXISTS (
        SELECT 1 FROM pg_inherits WHERE inhrelid = partition_oid AND inhparent = 'heartbeat'::regclass) THEN
        RETURN false;
    END IF;

    EXECUTE format('ALTER TABLE heartbeat DETACH PARTITION %I', partition_name);
    EXECUTE format('SELECT count(*) FROM %I', partition_name) INTO stored;
    IF stored <> archived_rows THEN
        RAISE EXCEPTION 'drop_heartbeat_partition: % holds % heartbeats but the archive %, so it is kept',
            partition_name, stored, archived_rows;
    END IF;

    EXECUTE format('DROP TABLE %I', partition_name);
    RETURN true;
END;
$$;

DO $$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION drop_heartbeat_partition(timestamptz, bigint) SECURITY DEFINER SET search_path = %I, pg_temp',
        current_schema());
END;
$$;

-- Only the owner, and the runtime role `migrate` grants it to, may call it.
REVOKE EXECUTE ON FUNCTION drop_heartbeat_partition(timestamptz, bigint) FROM PUBLIC;
