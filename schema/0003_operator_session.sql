-- Sensors 360 schema, version 3: operators' sessions, kept on the server. The session cookie carries
-- only a random key, so logging out (or expiry) ends a session on every silo, for every copy of its cookie.

CREATE TABLE operator_session (
    -- SHA-256 of the session's key (256 random bits, carried in the cookie). Only the hash is stored, so
    -- reading this table, or a backup of it, yields no key a cookie could carry.
    key_hash   bytea       PRIMARY KEY CHECK (octet_length(key_hash) = 32),
    -- Deleting an operator ends their sessions.
    user_id    bigint      NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    -- The authentication ticket (the operator's claims and the session's times), serialized by ASP.NET
    -- Core's TicketSerializer and protected with Data Protection (keys in data_protection_key).
    ticket     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The session is refused from this moment on; each renewal (sliding expiration) moves it later.
    expires_at timestamptz NOT NULL
);

-- Finding expired sessions to delete, a few at every login.
CREATE INDEX operator_session_expires_at_idx ON operator_session (expires_at);

-- The ON DELETE CASCADE from app_user, and ending all of an operator's sessions.
CREATE INDEX operator_session_user_id_idx ON operator_session (user_id);
