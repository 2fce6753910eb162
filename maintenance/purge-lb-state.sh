#!/usr/bin/env bash
# Example maintenance script for the access-guard demo policy (policies/): it only says what a real
# purge would do. Usage: purge-lb-state.sh --region REGION
set -euo pipefail
region="unknown"
if [[ "${1:-}" == "--region" && -n "${2:-}" ]]; then region="$2"; fi
echo "purging load-balancer state for region ${region} via ${DATABASE_URL:-<no DATABASE_URL>} (demo: nothing is deleted)"
