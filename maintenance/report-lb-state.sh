#!/usr/bin/env bash
# Example maintenance script for the access-guard demo policy (policies/): a read-only report.
# Usage: report-lb-state.sh [--region REGION]
set -euo pipefail
region="all regions"
if [[ "${1:-}" == "--region" && -n "${2:-}" ]]; then region="region $2"; fi
echo "reporting load-balancer state for ${region} via ${DATABASE_URL:-<no DATABASE_URL>} (demo: read-only)"
