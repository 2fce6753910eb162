#!/usr/bin/env bash
# Example maintenance script for the access-guard demo policy (policies/): it only says what a real
# purge would do. Usage: purge-lb-state.sh [--dry-run] --region REGION
# With --dry-run it says what it would delete (the policy's preview for approvers, issue 14).
set -euo pipefail
region="unknown"
dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --region) region="${2:-unknown}"; shift ;;
    --region=*) region="${1#--region=}" ;;
    *) ;;
  esac
  shift
done
target="production"
case "${DATABASE_URL:-}" in
  *staging-db.*) target="staging" ;;
  *localhost* | "") target="development" ;;
esac
if [[ $dry_run -eq 1 ]]; then
  echo "would delete 1843 rows of ${target} load-balancer state for region ${region}"
  exit 0
fi
echo "purging load-balancer state for region ${region} via ${DATABASE_URL:-<no DATABASE_URL>} (demo: nothing is deleted)"
