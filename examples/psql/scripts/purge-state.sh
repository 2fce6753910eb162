#!/bin/sh
# Deletes load-balancer state older than the given age, for good. Needs a DBA's approval in production.
# usage: scripts/purge-state.sh [--dry-run] --older-than 90d [CONNINFO]
# Connection: CONNINFO ("host=… dbname=…"), else DATABASE_URL, else PGHOST, PGDATABASE, … as psql reads them.
# --dry-run runs the same DELETE inside a transaction that is rolled back and prints what it would delete:
# the policy shows that to the approver (require.preview) and runs it again just before the real run.
set -eu
dry_run=
if [ "${1:-}" = "--dry-run" ]; then dry_run=1; shift; fi
[ "${1:-}" = "--older-than" ] && [ -n "${2:-}" ] || { echo "usage: $0 [--dry-run] --older-than <days>d [conninfo]" >&2; exit 64; }
days=${2%d}
case $days in ''|*[!0-9]*) echo "purge-state: --older-than wants whole days, e.g. 90d" >&2; exit 64 ;; esac
conn=${3:-${DATABASE_URL:-}}
# $days is digits only (checked above), so it can be part of the SQL text.
delete="DELETE FROM lb_state WHERE updated_at < now() - interval '$days days'"
if [ -n "$dry_run" ]; then
  # psql prints each command's status: BEGIN, DELETE <rows>, ROLLBACK. Nothing is kept.
  exec psql ${conn:+"$conn"} -X -v ON_ERROR_STOP=1 -c "BEGIN" -c "$delete" -c "ROLLBACK"
fi
exec psql ${conn:+"$conn"} -X -v ON_ERROR_STOP=1 -c "$delete"
