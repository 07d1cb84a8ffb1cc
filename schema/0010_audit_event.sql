-- Sensors 360 schema, version 10: the audit trail of operators' actions (logins, sensor and alert
-- commands, operator changes, imports). Rows are only ever inserted, by AuditLog (Server/Audit/).
CREATE TABLE audit_event (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL,
    -- The operator's username as it was, not a reference: the trail outlives the account. NULL: anonymous
    -- (a failed login).
    actor          text,
    action         text        NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    -- What the action was done to: a sensor id, an alert id, an operator's username.
    target         text,
    client_address text,
    details        jsonb
);

-- GET /api/audit pages newest first (by id), optionally for one actor or one action.
CREATE INDEX audit_event_actor_idx ON audit_event (actor, id DESC);
CREATE INDEX audit_event_action_idx ON audit_event (action, id DESC);
