#!/usr/bin/env bash
# First start of the compose PostgreSQL: Grafana's login role, a member of probefleet_reader.
# probefleet_reader is created here, NOLOGIN, exactly as the first migration would create it; the
# migration then only grants it SELECT on the projections (it checks that the role exists first).
# The password comes from the environment and reaches psql as a variable, never as SQL text.
set -euo pipefail
: "${GRAFANA_DB_PASSWORD:?GRAFANA_DB_PASSWORD is required}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v pw="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE probefleet_reader NOLOGIN;
CREATE ROLE grafana LOGIN PASSWORD :'pw' IN ROLE probefleet_reader;
SQL
