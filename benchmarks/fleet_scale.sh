#!/usr/bin/env bash
# Benchmark (not a test) of the pve.cloud.fleet role at scale: a fleet of 60 and of 300 VMs on a three-node pvesim;
# wall time and API calls of the first run, the no-op rerun and (60) a scale-down. Options go to
# benchmarks/fleet_scale.py (--sizes, --parallel, --latency-ms).
set -euo pipefail
source "$(dirname "$0")/../.ci/env.sh"
setup_venv
sync_collection
python "$ROOT/benchmarks/fleet_scale.py" "$@"
