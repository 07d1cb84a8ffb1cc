-- Sensors 360 schema, version 9: operators managed through the API (docs/api.md, Operators). An operator
-- can be disabled rather than deleted, so who acknowledged what stays readable; a disabled operator's
-- sessions are deleted and no new one starts. The times are for the admin screen.
ALTER TABLE app_user ADD COLUMN disabled boolean NOT NULL DEFAULT false;
ALTER TABLE app_user ADD COLUMN last_login_at timestamptz;
ALTER TABLE app_user ADD COLUMN password_changed_at timestamptz;
