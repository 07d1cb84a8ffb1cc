-- =============================================================================
-- Sensors 360: PostgreSQL storage for Microsoft Orleans 10.4.x (ADO.NET providers)
-- =============================================================================
--
-- Serves these NuGet packages, version 10.4.x (written and tested against 10.4.2),
-- with Invariant = "Npgsql" (Npgsql 10.x) on PostgreSQL 15 or later:
--   * Microsoft.Orleans.Clustering.AdoNet   (membership table and gateway list)
--   * Microsoft.Orleans.Persistence.AdoNet  (grain state, IGrainStorage)
--   * Microsoft.Orleans.Reminders.AdoNet    (reminder table)
--
-- Orleans stopped shipping its SQL scripts inside the packages. This file is our
-- own implementation of the contract the 10.4 providers expect: the providers
-- only know the table OrleansQuery (QueryKey, QueryText), the query keys below,
-- the @Parameter names they bind and the result-column names they read. The
-- table layout, functions and statements behind those keys are ours.
--
-- Query keys served (21):
--   Clustering (all required):
--     InsertMembershipVersionKey, MembershipReadRowKey, MembershipReadAllKey,
--     InsertMembershipKey, UpdateMembershipKey, UpdateIAmAlivetimeKey,
--     GatewaysQueryKey, DeleteMembershipTableEntriesKey,
--     CleanupDefunctSiloEntriesKey
--   Clustering (optional; 10.4 prefers it over CleanupDefunctSiloEntriesKey):
--     CleanupDefunctSiloEntryKey
--   Persistence (required):
--     ReadFromStorageKey, WriteToStorageKey, ClearStorageKey
--   Persistence (optional; only used with DeleteStateOnClear = true):
--     DeleteStorageKey
--   Reminders (all required):
--     ReadReminderRowsKey, ReadReminderRowKey, ReadRangeRows1Key,
--     ReadRangeRows2Key, UpsertReminderRowKey, DeleteReminderRowKey,
--     DeleteReminderRowsKey
--
-- Objects created (all in the current schema, normally public):
--   OrleansQuery                  query text per key (read by every provider)
--   orleans_membership_version    one row per cluster: the membership table version
--   orleans_membership_silo       one row per silo instance (address, port, generation)
--   orleans_grain_state           grain state rows (IGrainStorage)
--   orleans_reminder              reminder rows
--   orleans_reminder_etag_seq     source of reminder ETags
--   functions orleans_membership_insert, orleans_membership_update,
--             orleans_grain_state_write
--
-- Applying:
--   * Idempotent: every object is created with IF NOT EXISTS / OR REPLACE and the
--     OrleansQuery rows are upserted, so applying the file again changes nothing.
--   * No psql meta-commands. It can be sent as ONE multi-statement command (e.g. a
--     single NpgsqlCommand); PostgreSQL then runs it as one implicit transaction,
--     so it applies completely or not at all. With psql use:
--         psql -v ON_ERROR_STOP=1 --single-transaction -f orleans-postgres.sql
--   * The file has no BEGIN/COMMIT of its own, so it can also run inside a
--     transaction the caller has already opened.
--
-- Time values: the providers bind DateTime parameters as DbType.DateTime, which
-- Npgsql sends as timestamptz (UTC). All time columns are therefore timestamptz and
-- nothing here depends on the session TimeZone.
-- =============================================================================

-- Serialise concurrent appliers (e.g. several silos starting at once). The lock is
-- released when the surrounding transaction ends. The key is listed with the
-- server's other lock keys in src/Sensors360.Server/Database/AdvisoryLocks.cs.
SELECT pg_advisory_xact_lock(4236140772518303601);

-- -----------------------------------------------------------------------------
-- Query catalogue. Name and columns are fixed by the providers
-- ("SELECT QueryKey, QueryText FROM OrleansQuery").
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS OrleansQuery (
    QueryKey  varchar(64) NOT NULL,
    QueryText text        NOT NULL,
    CONSTRAINT orleansquery_pkey PRIMARY KEY (QueryKey)
);

-- -----------------------------------------------------------------------------
-- Membership (clustering)
--
-- Orleans' "DeploymentId" parameter carries ClusterOptions.ClusterId.
-- The whole membership table of a cluster shares one version number, kept in
-- orleans_membership_version. Every insert/update of a silo row must name the
-- version it last read (@Version); it succeeds, and bumps the version, only if
-- that is still the current one. This is what Orleans' membership protocol relies
-- on for its optimistic concurrency.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS orleans_membership_version (
    cluster_id    text        NOT NULL,
    table_version integer     NOT NULL DEFAULT 0,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orleans_membership_version_pkey PRIMARY KEY (cluster_id)
);

CREATE TABLE IF NOT EXISTS orleans_membership_silo (
    cluster_id      text        NOT NULL,
    address         text        NOT NULL,  -- IPv4 or IPv6 text form
    port            integer     NOT NULL,  -- silo-to-silo port
    generation      integer     NOT NULL,  -- distinguishes restarts on the same endpoint
    silo_name       text        NOT NULL,
    host_name       text        NOT NULL,
    status          integer     NOT NULL,  -- Orleans SiloStatus: 3 = Active, 6 = Dead, ...
    proxy_port      integer     NOT NULL DEFAULT 0,  -- gateway port, 0 = not a gateway
    suspect_times   text,                  -- Orleans-formatted "silo,time|silo,time" list
    start_time      timestamptz NOT NULL,
    i_am_alive_time timestamptz NOT NULL,
    CONSTRAINT orleans_membership_silo_pkey PRIMARY KEY (cluster_id, address, port, generation),
    CONSTRAINT orleans_membership_silo_cluster_fkey FOREIGN KEY (cluster_id)
        REFERENCES orleans_membership_version (cluster_id) ON DELETE CASCADE
);

-- Gateway list lookup: cluster + status (the primary key already covers the other
-- lookups: one silo, all silos of a cluster, defunct-silo cleanup by cluster).
CREATE INDEX IF NOT EXISTS orleans_membership_silo_status_idx
    ON orleans_membership_silo (cluster_id, status);

-- Adds a silo row if @Version is still the cluster's current version and the silo
-- instance is not registered yet. Returns 1 on success (version bumped), else 0.
CREATE OR REPLACE FUNCTION orleans_membership_insert(
    p_cluster_id       text,
    p_address          text,
    p_port             integer,
    p_generation       integer,
    p_silo_name        text,
    p_host_name        text,
    p_status           integer,
    p_proxy_port       integer,
    p_start_time       timestamptz,
    p_i_am_alive_time  timestamptz,
    p_expected_version integer)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
BEGIN
    -- Take the cluster's version row, but only while it still holds the expected
    -- version. A concurrent writer with the same expectation waits here and, once
    -- the first one commits, finds the version moved on and gets 0.
    PERFORM 1
       FROM orleans_membership_version
      WHERE cluster_id = p_cluster_id
        AND table_version = p_expected_version
        FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;

    INSERT INTO orleans_membership_silo
           (cluster_id, address, port, generation, silo_name, host_name,
            status, proxy_port, suspect_times, start_time, i_am_alive_time)
    VALUES (p_cluster_id, p_address, p_port, p_generation, p_silo_name, p_host_name,
            p_status, coalesce(p_proxy_port, 0), NULL, p_start_time, p_i_am_alive_time)
    ON CONFLICT ON CONSTRAINT orleans_membership_silo_pkey DO NOTHING;
    IF NOT FOUND THEN
        RETURN 0;  -- already registered: leave the version alone
    END IF;

    UPDATE orleans_membership_version
       SET table_version = table_version + 1,
           changed_at    = now()
     WHERE cluster_id = p_cluster_id;
    RETURN 1;
END
$fn$;

-- Changes status / suspicions / liveness of an existing silo row if @Version is
-- still current. Returns 1 on success (version bumped), else 0.
CREATE OR REPLACE FUNCTION orleans_membership_update(
    p_cluster_id       text,
    p_address          text,
    p_port             integer,
    p_generation       integer,
    p_status           integer,
    p_suspect_times    text,
    p_i_am_alive_time  timestamptz,
    p_expected_version integer)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
BEGIN
    PERFORM 1
       FROM orleans_membership_version
      WHERE cluster_id = p_cluster_id
        AND table_version = p_expected_version
        FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;

    UPDATE orleans_membership_silo
       SET status          = p_status,
           suspect_times   = p_suspect_times,
           i_am_alive_time = p_i_am_alive_time
     WHERE cluster_id = p_cluster_id
       AND address    = p_address
       AND port       = p_port
       AND generation = p_generation;
    IF NOT FOUND THEN
        RETURN 0;  -- no such silo: nothing changed, version untouched
    END IF;

    UPDATE orleans_membership_version
       SET table_version = table_version + 1,
           changed_at    = now()
     WHERE cluster_id = p_cluster_id;
    RETURN 1;
END
$fn$;

-- -----------------------------------------------------------------------------
-- Grain state (persistence)
--
-- The provider identifies a state row by ServiceId, grain type string and the
-- grain key split into N0/N1 (GUID or integer key) plus an optional string part
-- (string keys and key extensions), and also passes 32-bit hashes of the grain id
-- and the grain type, which lead the lookup index.
-- The "grain type" Orleans passes is the state name (e.g. "counter" from
-- [PersistentState("counter", "Default")]), not the grain class, and the provider
-- name is not passed at all: grains of different classes that use the same state
-- name and key share one row.
--
-- ETag = version: 1 on first write, +1 on each write or clear. A write or clear
-- must present the current version (NULL when no row exists yet). On mismatch the
-- statements return NULL / no row, which the provider turns into
-- InconsistentStateException.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS orleans_grain_state (
    state_id           bigint GENERATED ALWAYS AS IDENTITY,
    service_id         text        NOT NULL,
    grain_type_hash    integer     NOT NULL,
    grain_type         text        NOT NULL,
    grain_id_hash      integer     NOT NULL,
    grain_id_n0        bigint      NOT NULL,
    grain_id_n1        bigint      NOT NULL,
    grain_id_extension text,                  -- NULL when the key has no string part
    payload            bytea,                 -- serialized state; NULL after a clear
    version            integer     NOT NULL,
    modified_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orleans_grain_state_pkey PRIMARY KEY (state_id),
    -- One row per grain; NULL extensions compare equal, so they cannot duplicate.
    CONSTRAINT orleans_grain_state_grain_key UNIQUE NULLS NOT DISTINCT
        (grain_id_hash, grain_type_hash, service_id, grain_type,
         grain_id_n0, grain_id_n1, grain_id_extension)
);

-- Stores a new payload. p_expected_version NULL means "create": succeeds only if
-- the grain has no row yet. Otherwise the row must carry exactly that version.
-- Returns the new version, or NULL when the expectation did not hold.
CREATE OR REPLACE FUNCTION orleans_grain_state_write(
    p_grain_id_hash      integer,
    p_grain_id_n0        bigint,
    p_grain_id_n1        bigint,
    p_grain_type_hash    integer,
    p_grain_type         text,
    p_grain_id_extension text,
    p_service_id         text,
    p_expected_version   integer,
    p_payload            bytea)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_new_version integer;
BEGIN
    IF p_expected_version IS NULL THEN
        INSERT INTO orleans_grain_state
               (service_id, grain_type_hash, grain_type, grain_id_hash,
                grain_id_n0, grain_id_n1, grain_id_extension, payload, version)
        VALUES (p_service_id, p_grain_type_hash, p_grain_type, p_grain_id_hash,
                p_grain_id_n0, p_grain_id_n1, p_grain_id_extension, p_payload, 1)
        ON CONFLICT ON CONSTRAINT orleans_grain_state_grain_key DO NOTHING
        RETURNING version INTO v_new_version;
    ELSE
        UPDATE orleans_grain_state
           SET payload     = p_payload,
               version     = version + 1,
               modified_at = now()
         WHERE grain_id_hash   = p_grain_id_hash
           AND grain_type_hash = p_grain_type_hash
           AND service_id      = p_service_id
           AND grain_type      = p_grain_type
           AND grain_id_n0     = p_grain_id_n0
           AND grain_id_n1     = p_grain_id_n1
           AND grain_id_extension IS NOT DISTINCT FROM p_grain_id_extension
           AND version         = p_expected_version
        RETURNING version INTO v_new_version;
    END IF;
    RETURN v_new_version;  -- NULL: stale or missing ETag
END
$fn$;

-- -----------------------------------------------------------------------------
-- Reminders
--
-- GrainHash is the grain's uniform hash (a uint) passed as a signed integer. The
-- provider asks for ring ranges (BeginHash, EndHash] in that signed order: one
-- contiguous range when BeginHash < EndHash (ReadRangeRows1Key), otherwise the
-- range wraps and is the union of the two ends (ReadRangeRows2Key).
-- ETags come from one sequence, so a reminder that is deleted and registered
-- again never reuses an ETag a caller may still hold.
-- -----------------------------------------------------------------------------
CREATE SEQUENCE IF NOT EXISTS orleans_reminder_etag_seq AS integer CYCLE;

CREATE TABLE IF NOT EXISTS orleans_reminder (
    service_id    text        NOT NULL,
    grain_id      text        NOT NULL,  -- GrainId.ToString()
    reminder_name text        NOT NULL,
    grain_hash    integer     NOT NULL,
    start_time    timestamptz NOT NULL,
    period_ms     bigint      NOT NULL,
    etag          integer     NOT NULL,
    CONSTRAINT orleans_reminder_pkey PRIMARY KEY (service_id, grain_id, reminder_name)
);

-- Range reads by the reminder service (the primary key covers the per-grain reads).
CREATE INDEX IF NOT EXISTS orleans_reminder_hash_idx
    ON orleans_reminder (service_id, grain_hash);

-- -----------------------------------------------------------------------------
-- Query texts. Parameter names (@...) and result column names ("...") are the
-- ones the providers bind and read.
-- -----------------------------------------------------------------------------
INSERT INTO OrleansQuery AS q (QueryKey, QueryText)
VALUES

-- ---- Clustering ------------------------------------------------------------

-- Creates the cluster's version row if missing; one column: 1 created, 0 existed.
('InsertMembershipVersionKey', $q$
WITH created AS (
    INSERT INTO orleans_membership_version (cluster_id)
    VALUES (@DeploymentId)
    ON CONFLICT ON CONSTRAINT orleans_membership_version_pkey DO NOTHING
    RETURNING 1
)
SELECT count(*)::integer AS "Created" FROM created;
$q$),

-- The version row plus (if present) the requested silo's row.
('MembershipReadRowKey', $q$
SELECT v.table_version   AS "Version",
       s.address         AS "Address",
       s.port            AS "Port",
       s.generation      AS "Generation",
       s.silo_name       AS "SiloName",
       s.host_name       AS "HostName",
       s.status          AS "Status",
       s.proxy_port      AS "ProxyPort",
       s.suspect_times   AS "SuspectTimes",
       s.start_time      AS "StartTime",
       s.i_am_alive_time AS "IAmAliveTime"
  FROM orleans_membership_version AS v
  LEFT JOIN orleans_membership_silo AS s
         ON s.cluster_id = v.cluster_id
        AND s.address    = @Address
        AND s.port       = @Port
        AND s.generation = @Generation
 WHERE v.cluster_id = @DeploymentId;
$q$),

-- The version row joined with every silo row of the cluster (one row with NULL
-- silo columns when the cluster has no silos yet).
('MembershipReadAllKey', $q$
SELECT v.table_version   AS "Version",
       s.address         AS "Address",
       s.port            AS "Port",
       s.generation      AS "Generation",
       s.silo_name       AS "SiloName",
       s.host_name       AS "HostName",
       s.status          AS "Status",
       s.proxy_port      AS "ProxyPort",
       s.suspect_times   AS "SuspectTimes",
       s.start_time      AS "StartTime",
       s.i_am_alive_time AS "IAmAliveTime"
  FROM orleans_membership_version AS v
  LEFT JOIN orleans_membership_silo AS s
         ON s.cluster_id = v.cluster_id
 WHERE v.cluster_id = @DeploymentId;
$q$),

-- Optimistic insert; one column: 1 = inserted and version bumped, 0 = rejected.
('InsertMembershipKey', $q$
SELECT orleans_membership_insert(
           @DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName,
           @Status, @ProxyPort, @StartTime, @IAmAliveTime, @Version) AS "Applied";
$q$),

-- Optimistic update; one column: 1 = updated and version bumped, 0 = rejected.
('UpdateMembershipKey', $q$
SELECT orleans_membership_update(
           @DeploymentId, @Address, @Port, @Generation,
           @Status, @SuspectTimes, @IAmAliveTime, @Version) AS "Applied";
$q$),

-- Liveness heartbeat; deliberately does not touch the table version.
('UpdateIAmAlivetimeKey', $q$
UPDATE orleans_membership_silo
   SET i_am_alive_time = @IAmAliveTime
 WHERE cluster_id = @DeploymentId
   AND address    = @Address
   AND port       = @Port
   AND generation = @Generation;
$q$),

-- Gateways clients may use: silos with the requested status (Active) that
-- expose a gateway port.
('GatewaysQueryKey', $q$
SELECT address    AS "Address",
       proxy_port AS "ProxyPort",
       generation AS "Generation"
  FROM orleans_membership_silo
 WHERE cluster_id = @DeploymentId
   AND status     = @Status
   AND proxy_port > 0;
$q$),

-- Drops a whole cluster: the version row, and its silo rows via ON DELETE CASCADE.
('DeleteMembershipTableEntriesKey', $q$
DELETE FROM orleans_membership_version
 WHERE cluster_id = @DeploymentId;
$q$),

-- Bulk cleanup (used only if CleanupDefunctSiloEntryKey were absent): forget
-- non-active silos that have not reported in since @IAmAliveTime.
('CleanupDefunctSiloEntriesKey', $q$
DELETE FROM orleans_membership_silo
 WHERE cluster_id      = @DeploymentId
   AND status         <> 3
   AND i_am_alive_time < @IAmAliveTime;
$q$),

-- Per-row cleanup used by 10.4: the provider has chosen a Dead silo from a
-- membership read and passes back what it saw; the row is removed only if it is
-- still Dead and unchanged since (same start, liveness and suspicions).
('CleanupDefunctSiloEntryKey', $q$
DELETE FROM orleans_membership_silo
 WHERE cluster_id      = @DeploymentId
   AND address         = @Address
   AND port            = @Port
   AND generation      = @Generation
   AND status          = 6
   AND start_time      = @StartTime
   AND i_am_alive_time = @IAmAliveTime
   AND nullif(suspect_times, '') IS NOT DISTINCT FROM nullif(@SuspectTimes, '');
$q$),

-- ---- Persistence -----------------------------------------------------------

-- Payload (NULL when never written or cleared) and current version; no row when
-- the grain has never been stored.
('ReadFromStorageKey', $q$
SELECT payload AS "PayloadBinary",
       version AS "Version"
  FROM orleans_grain_state
 WHERE grain_id_hash   = @GrainIdHash
   AND grain_type_hash = @GrainTypeHash
   AND service_id      = @ServiceId
   AND grain_type      = @GrainTypeString
   AND grain_id_n0     = @GrainIdN0
   AND grain_id_n1     = @GrainIdN1
   AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString;
$q$),

-- New version, or NULL on an ETag mismatch (-> InconsistentStateException).
('WriteToStorageKey', $q$
SELECT orleans_grain_state_write(
           @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
           @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary
       ) AS "NewGrainStateVersion";
$q$),

-- Clear keeps the row (so the version keeps counting) but drops the payload.
-- Returns the new version; no row on an ETag mismatch (-> InconsistentStateException).
('ClearStorageKey', $q$
UPDATE orleans_grain_state
   SET payload     = NULL,
       version     = version + 1,
       modified_at = now()
 WHERE grain_id_hash   = @GrainIdHash
   AND grain_type_hash = @GrainTypeHash
   AND service_id      = @ServiceId
   AND grain_type      = @GrainTypeString
   AND grain_id_n0     = @GrainIdN0
   AND grain_id_n1     = @GrainIdN1
   AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString
   AND version         = @GrainStateVersion
RETURNING version AS "NewGrainStateVersion";
$q$),

-- DeleteStateOnClear = true: removes the row if the ETag matches. Returns a value
-- different from that ETag on success; no row on a mismatch.
('DeleteStorageKey', $q$
DELETE FROM orleans_grain_state
 WHERE grain_id_hash   = @GrainIdHash
   AND grain_type_hash = @GrainTypeHash
   AND service_id      = @ServiceId
   AND grain_type      = @GrainTypeString
   AND grain_id_n0     = @GrainIdN0
   AND grain_id_n1     = @GrainIdN1
   AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString
   AND version         = @GrainStateVersion
RETURNING version + 1 AS "DeletedAtVersion";
$q$),

-- ---- Reminders -------------------------------------------------------------

('ReadReminderRowsKey', $q$
SELECT grain_id      AS "GrainId",
       reminder_name AS "ReminderName",
       start_time    AS "StartTime",
       period_ms     AS "Period",
       etag          AS "Version"
  FROM orleans_reminder
 WHERE service_id = @ServiceId
   AND grain_id   = @GrainId;
$q$),

('ReadReminderRowKey', $q$
SELECT grain_id      AS "GrainId",
       reminder_name AS "ReminderName",
       start_time    AS "StartTime",
       period_ms     AS "Period",
       etag          AS "Version"
  FROM orleans_reminder
 WHERE service_id    = @ServiceId
   AND grain_id      = @GrainId
   AND reminder_name = @ReminderName;
$q$),

-- Non-wrapping ring range (BeginHash, EndHash].
('ReadRangeRows1Key', $q$
SELECT grain_id      AS "GrainId",
       reminder_name AS "ReminderName",
       start_time    AS "StartTime",
       period_ms     AS "Period",
       etag          AS "Version"
  FROM orleans_reminder
 WHERE service_id = @ServiceId
   AND grain_hash > @BeginHash
   AND grain_hash <= @EndHash;
$q$),

-- Wrapping ring range: above BeginHash, plus up to and including EndHash. The
-- provider only uses this key when EndHash <= BeginHash, so the two halves are
-- disjoint and each is a plain range scan of orleans_reminder_hash_idx.
('ReadRangeRows2Key', $q$
SELECT grain_id      AS "GrainId",
       reminder_name AS "ReminderName",
       start_time    AS "StartTime",
       period_ms     AS "Period",
       etag          AS "Version"
  FROM orleans_reminder
 WHERE service_id = @ServiceId
   AND grain_hash > @BeginHash
UNION ALL
SELECT grain_id, reminder_name, start_time, period_ms, etag
  FROM orleans_reminder
 WHERE service_id = @ServiceId
   AND grain_hash <= @EndHash;
$q$),

-- Insert or replace; returns the reminder's new ETag.
('UpsertReminderRowKey', $q$
INSERT INTO orleans_reminder AS r
       (service_id, grain_id, reminder_name, grain_hash, start_time, period_ms, etag)
VALUES (@ServiceId, @GrainId, @ReminderName, @GrainHash, @StartTime, @Period,
        nextval('orleans_reminder_etag_seq'))
ON CONFLICT ON CONSTRAINT orleans_reminder_pkey DO UPDATE
   SET grain_hash = excluded.grain_hash,
       start_time = excluded.start_time,
       period_ms  = excluded.period_ms,
       etag       = excluded.etag
RETURNING r.etag AS "Version";
$q$),

-- Delete only with the current ETag; one column: 1 deleted, 0 not.
('DeleteReminderRowKey', $q$
WITH removed AS (
    DELETE FROM orleans_reminder
     WHERE service_id    = @ServiceId
       AND grain_id      = @GrainId
       AND reminder_name = @ReminderName
       AND etag          = @Version
    RETURNING 1
)
SELECT count(*)::integer AS "Deleted" FROM removed;
$q$),

-- Test support: every reminder of the service.
('DeleteReminderRowsKey', $q$
DELETE FROM orleans_reminder
 WHERE service_id = @ServiceId;
$q$)

ON CONFLICT (QueryKey) DO UPDATE
   SET QueryText = excluded.QueryText
 WHERE q.QueryText IS DISTINCT FROM excluded.QueryText;
