#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume: one role and one
# database per service, each database owned by its role and closed to the others. The role
# passwords come from <SERVICE>_DB_PASSWORD in the container environment (docker-compose.yml).
# Changing a password later: ALTER ROLE ... PASSWORD ... (this script does not run again).
set -eu

for service in booking content cabinet notify; do
    var=$(echo "${service}_DB_PASSWORD" | tr '[:lower:]' '[:upper:]')
    eval "password=\${$var:-}"
    if [ -z "$password" ]; then
        echo "initdb: $var is not set" >&2
        exit 1
    fi
    # psql variables quote the identifier and the literal, so any password is safe here.
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
         -v svc="$service" -v pw="$password" <<'SQL'
CREATE ROLE :"svc" LOGIN PASSWORD :'pw';
CREATE DATABASE :"svc" OWNER :"svc";
REVOKE ALL ON DATABASE :"svc" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"svc" TO :"svc";
SQL
done

# Extensions need a superuser; the services' migrations only reference them. booking's exclusion
# constraint (no double booking) needs btree_gist.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname booking \
     -c 'CREATE EXTENSION IF NOT EXISTS btree_gist'
