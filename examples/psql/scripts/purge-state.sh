#!/bin/sh
# Deletes load-balancer state older than the given age, for good. Needs a DBA's approval in production.
# usage: scripts/purge-state.sh --older-than 90d [CONNINFO]
# Connection: CONNINFO ("host=… dbname=…"), else DATABASE_URL, else PGHOST, PGDATABASE, … as psql reads them.
set -eu
[ "${1:-}" = "--older-than" ] && [ -n "${2:-}" ] || { echo "usage: $0 --older-than <days>d [conninfo]" >&2; exit 64; }
days=${2%d}
case $days in ''|*[!0-9]*) echo "purge-state: --older-than wants whole days, e.g. 90d" >&2; exit 64 ;; esac
conn=${3:-${DATABASE_URL:-}}
# $days is digits only (checked above), so it can be part of the SQL text.
exec psql ${conn:+"$conn"} -v ON_ERROR_STOP=1 -c "DELETE FROM lb_state WHERE updated_at < now() - interval '$days days'"
