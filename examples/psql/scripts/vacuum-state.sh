#!/bin/sh
# Routine maintenance of the state database: reclaims space, changes no rows.
# Connection settings come from the environment (PGHOST, PGDATABASE, …) or DATABASE_URL.
set -eu
exec psql ${DATABASE_URL:+"$DATABASE_URL"} -v ON_ERROR_STOP=1 -c 'VACUUM (ANALYZE, VERBOSE) lb_state'
