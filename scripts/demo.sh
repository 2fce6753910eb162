#!/usr/bin/env bash
# npm run demo: replay the Christmas Eve 2012 incident against guard, end to end, on the embedded default
# store, with throwaway keys. Every step checks the exit code it expects; the demo fails if one differs.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEMO="$(mktemp -d "${TMPDIR:-/tmp}/guard-demo.XXXXXX")"
trap 'rm -rf "$DEMO"' EXIT

# Colour only at a terminal, and never with NO_COLOR (a file or a pipe gets plain text; guard decides the
# same for its own output).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  BOLD=$'\033[1m' DIM=$'\033[2m' RED=$'\033[31m' OFF=$'\033[0m'
else
  BOLD='' DIM='' RED='' OFF=''
fi
bold() { printf '%s%s%s\n' "$BOLD" "$*" "$OFF"; }
say() { printf '\n'; bold "── $*"; }
narrate() { printf '   %s\n' "$@"; }

# One argument as a shell would need it typed: bare when safe, else in single quotes.
shq() {
  if [[ "$1" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}
# The command line as typed, every argument quoted as needed.
typed() {
  local out="" a
  for a in "$@"; do out+=" $(shq "$a")"; done
  printf '%s' "${out# }"
}

DEMO_PATH="$(dirname "$(command -v node)"):/usr/local/bin:/usr/bin:/bin"

# guard as a user would run it, from the demo project, with the demo's own state directory. A leading
# NAME=VALUE argument (after who) is shown and set for that one command, as a shell would.
g() {
  local who="$1"; shift
  local -a envs=()
  while [[ $# -gt 0 && "$1" =~ ^[A-Z_]+= ]]; do envs+=("$1"); shift; done
  local shown="" e
  for e in "${envs[@]}"; do shown+="${e%%=*}=$(shq "${e#*=}") "; done
  printf '%s%s$ %sguard %s%s\n' "$DIM" "$who" "$shown" "$(typed "$@")" "$OFF"
  # A small, fixed environment (what the approver is shown is then the demo's, not this machine's).
  (cd "$DEMO/project" && env -i PATH="$DEMO_PATH" LANG=C.UTF-8 TERM="${TERM:-dumb}" ${NO_COLOR:+NO_COLOR=1} \
    HOME="$DEMO/home-$who" XDG_STATE_HOME="$DEMO/state" GUARD_KEY="$DEMO/keys/$who" "${envs[@]}" \
    node "$ROOT/bin/guard.js" "$@" </dev/null)
}
expect() {
  local want="$1" got="$2" what="$3"
  if [ "$got" != "$want" ]; then
    printf '\n%sdemo failed: %s exited %s, expected %s%s\n' "$RED" "$what" "$got" "$want" "$OFF" >&2
    exit 1
  fi
  printf '%s   (exit %s, as expected)%s\n' "$DIM" "$got" "$OFF"
}

say "Setting up: a project with the example policy, and throwaway keys for alice and bob"
mkdir -p "$DEMO/project" "$DEMO/keys" "$DEMO/state"
cp -R "$ROOT/policies" "$ROOT/maintenance" "$DEMO/project/"
rm -f "$DEMO/project/policies/"*.test.yaml
chmod -R go-w "$DEMO/project"
printf 'policies: policies\n' > "$DEMO/project/guard.config.yaml"
for who in alice bob carol dave; do
  mkdir -p "$DEMO/home-$who"
  ssh-keygen -q -t ed25519 -N '' -C "$who@demo" -f "$DEMO/keys/$who"
done
key() { cut -d' ' -f1,2 "$DEMO/keys/$1.pub"; }
cat > "$DEMO/project/policies/principals.yaml" <<YAML
version: 1
principals:
  alice: { keys: ["$(key alice)"], groups: [sre] }
  bob: { keys: ["$(key bob)"], groups: [sre, dba] }
  carol: { keys: ["$(key carol)"], groups: [dba] }
  dave: { keys: ["$(key dave)"], groups: [developer] }
YAML
narrate "policy:  $DEMO/project/policies (production is protected; purges need a second SRE)" \
        "store:   the embedded default, \$XDG_STATE_HOME/access-guard"
g alice policy lint; expect 0 $? "policy lint"

PROD_DB="postgres://elb@prod-db.internal/elb"

say "Christmas Eve. Alice believes her shell points at staging, and purges stale load-balancer state."
narrate "Her DATABASE_URL still points at production from an earlier session."
g alice DATABASE_URL="$PROD_DB" run --env staging -- ./maintenance/purge-lb-state.sh --region us-east-1
expect 77 $? "the wrong-target run"
narrate "Refused: she declared staging, but the environment says production. Nothing ran."

say "What would it take? guard check explains the decision and never runs anything."
g alice DATABASE_URL="$PROD_DB" check -- ./maintenance/purge-lb-state.sh --region us-east-1
expect 75 $? "check"

say "Read-only work is never in the way: a report runs at once (with the production banner)."
g alice DATABASE_URL="$PROD_DB" run -- ./maintenance/report-lb-state.sh --region us-east-1
expect 0 $? "the report"

say "Alice asks for this exact run. guard runs the purge's own --dry-run as the preview her approver will see."
narrate "Without a terminal guard never waits: it prints the request and exits 75."
out="$(g alice DATABASE_URL="$PROD_DB" run --confirm production --reason "INC-2412: stale ELB state after failed deploy" -- ./maintenance/purge-lb-state.sh --region us-east-1 2>&1)"
code=$?
printf '%s\n' "$out"
expect 75 $code "the request"
ID="$(printf '%s' "$out" | grep -o 'r-[a-z2-7]\{20\}' | head -n 1)"

say "Alice cannot approve her own request."
g alice approve "$ID" --yes 2>&1 | grep -E '^(guard: |alice\$ )'
expect 77 "${PIPESTATUS[0]}" "self-approval"
narrate "Refused: a second, distinct person must approve (checked by key, not by user name)."

say "Bob, a second SRE, sees exactly what he is approving — the command, the target, and the preview:"
narrate "\"would delete 1843 rows of production load-balancer state\" — then signs with his own SSH key."
g bob approve "$ID" --yes --comment "checked the region and the ticket"
expect 0 $? "bob's approval"

say "Alice runs the same command again: guard finds the approved request, checks the binding, runs the"
narrate "preview again (recheck: its output must not have changed since Bob saw it), and runs the purge once."
g alice DATABASE_URL="$PROD_DB" run --confirm production -- ./maintenance/purge-lb-state.sh --region us-east-1
expect 0 $? "the approved run"

say "Replaying the approval is refused: it was single-use."
g alice DATABASE_URL="$PROD_DB" run --request "$ID" --confirm production
expect 77 $? "the replay"

say "Everything is in the tamper-evident audit log."
g alice audit log
expect 0 $? "audit log"
g alice audit verify
expect 0 $? "audit verify"

say "A name is not a target: ask the database who it is (identity probes)."
PGADMIN="${GUARD_DEMO_PG:-postgresql://postgres@127.0.0.1:5432/postgres}"
if psql "$PGADMIN" -XAtqc 'select 1' >/dev/null 2>&1; then
  SUFFIX="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  PROD_NAME="guard_demo_prod_$SUFFIX"
  psql "$PGADMIN" -XAtq -c "CREATE DATABASE $PROD_NAME" -c "ALTER DATABASE $PROD_NAME SET guard.environment = 'elb-prod-7f3a'"
  trap 'psql "$PGADMIN" -XAtqc "DROP DATABASE IF EXISTS $PROD_NAME WITH (FORCE)" >/dev/null 2>&1; rm -rf "$DEMO"' EXIT
  python3 - "$DEMO/project/policies/environments.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
probe = """    identity:
      - command: ["sh", "-c", "psql \\"$DATABASE_URL\\" -XAtc 'show guard.environment'"]
        {}
"""
s = s.replace("  staging:\n", probe.format("matches: \"elb-prod-*\"") + "  staging:\n", 1)
s = s.replace("  development:\n", probe.format("equals: elb-stg-21c9") + "  development:\n", 1)
open(p, "w").write(s)
PY
  ALIAS="postgresql://postgres@staging-db.internal/$PROD_NAME?hostaddr=127.0.0.1"
  narrate "A DNS alias named staging-db.internal was left pointing at the production database after a failover."
  g alice DATABASE_URL="$ALIAS" run -- ./maintenance/purge-lb-state.sh --region us-east-1
  expect 77 $? "the alias run"
  narrate "Refused before anything ran: the name said staging, the database answered elb-prod-7f3a, production's identity."
else
  narrate "(skipped: no PostgreSQL at $PGADMIN; set GUARD_DEMO_PG to a superuser URL to see it)"
fi

say "Done: the wrong target was refused, the right one needed a second person, ran once, and left a record."
