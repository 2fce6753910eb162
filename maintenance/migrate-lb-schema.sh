#!/usr/bin/env bash
# Example maintenance script for the access-guard demo policy (policies/): it only says what a real
# migration would do. Usage: migrate-lb-schema.sh --to VERSION
set -euo pipefail
version="latest"
if [[ "${1:-}" == "--to" && -n "${2:-}" ]]; then version="$2"; fi
echo "migrating the load-balancer schema to version ${version} via ${DATABASE_URL:-<no DATABASE_URL>} (demo: nothing is changed)"
