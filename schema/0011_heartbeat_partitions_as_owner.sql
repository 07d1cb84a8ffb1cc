-- Sensors 360 schema, version 9: the server keeps its heartbeat partitions ahead without DDL rights.
-- ensure_heartbeat_partitions() creates tables, which only the owner of heartbeat may do. It now runs with
-- its owner's rights (the role that applied the migrations), so a runtime role without CREATE on the
-- schema can call it; the fixed search_path keeps a caller's temporary objects out of it.
DO $$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION ensure_heartbeat_partitions(timestamptz, integer) SECURITY DEFINER SET search_path = %I, pg_temp',
        current_schema());
END;
$$;

-- Only the owner, and the runtime role `migrate` grants it to, may call it.
REVOKE EXECUTE ON FUNCTION ensure_heartbeat_partitions(timestamptz, integer) FROM PUBLIC;
