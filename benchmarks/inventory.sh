#!/usr/bin/env bash
# Benchmark (not a test) of the pve.cloud.proxmox inventory: pvesim with 2,000 guests on 3 nodes and 5 ms of
# latency per request; wall time and API calls of ansible-inventory --list without per-guest facts, with
# want_config, and with want_config + want_addresses. Options go to benchmarks/inventory.py
# (--guests, --nodes, --latency-ms, --concurrency).
set -euo pipefail
source "$(dirname "$0")/../.ci/env.sh"
setup_venv
sync_collection
python "$ROOT/benchmarks/inventory.py" "$@"
