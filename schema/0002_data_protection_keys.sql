-- Sensors 360 schema, version 2: ASP.NET Core Data Protection keys, shared by every silo so that a
-- session cookie issued by one silo is accepted by all of them.

CREATE TABLE data_protection_key (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The key's id as Data Protection names it; unique so a key is stored once.
    friendly_name text        NOT NULL,
    xml           text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT data_protection_key_friendly_name_key UNIQUE (friendly_name)
);
