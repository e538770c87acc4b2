#!/usr/bin/env bash
# Runs once, on the first start of an empty data volume (docker-entrypoint-initdb.d).
# Creates the Airflow metadata database and the `warehouse` database, each owned by its own
# login role. Names and passwords come from the environment (.env via docker-compose.yml);
# psql variables quote them, so unusual characters in a password are safe.
set -euo pipefail

: "${AIRFLOW_DB_USER:?AIRFLOW_DB_USER is not set: add it to .env (see .env.example)}"
: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set: add it to .env (see .env.example)}"
: "${WAREHOUSE_DB_USER:?WAREHOUSE_DB_USER is not set: add it to .env (see .env.example)}"
: "${WAREHOUSE_DB_PASSWORD:?WAREHOUSE_DB_PASSWORD is not set: add it to .env (see .env.example)}"

psql --no-psqlrc -v ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    --set airflow_user="${AIRFLOW_DB_USER}" \
    --set airflow_password="${AIRFLOW_DB_PASSWORD}" \
    --set warehouse_user="${WAREHOUSE_DB_USER}" \
    --set warehouse_password="${WAREHOUSE_DB_PASSWORD}" <<'SQL'
CREATE ROLE :"airflow_user" LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER :"airflow_user";
REVOKE ALL ON DATABASE airflow FROM PUBLIC;

CREATE ROLE :"warehouse_user" LOGIN PASSWORD :'warehouse_password';
CREATE DATABASE warehouse OWNER :"warehouse_user";
REVOKE ALL ON DATABASE warehouse FROM PUBLIC;
SQL

# Each role owns its database, so it owns the `public` schema too (pg_database_owner, PostgreSQL
# 15+) and creates its own schemas: dbt, GX and `lab` never need the superuser.

echo "created databases airflow (owner ${AIRFLOW_DB_USER}) and warehouse (owner ${WAREHOUSE_DB_USER})"
