#!/bin/sh
# The PostgreSQL image runs this once, on an empty data directory (deploy/compose.yaml): an owner role that
# applies the schema (the `migrate` service) and a runtime role without DDL rights (the silos), neither a
# superuser, and the database owned by the first (docs/security.md#least-privilege-database-roles).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$SENSORS360_OWNER_PASSWORD" -v app_password="$SENSORS360_APP_PASSWORD" <<'SQL'
CREATE ROLE sensors360_owner LOGIN PASSWORD :'owner_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE sensors360_app LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE sensors360 OWNER sensors360_owner;
SQL
