#!/usr/bin/env bash
# Benchmark (not a test): API calls, writes and wall time of a qemu and an lxc create and no-op against pvesim.
set -euo pipefail
source "$(dirname "$0")/../.ci/env.sh"
setup_venv
sync_collection
python "$ROOT/benchmarks/guest_calls.py" "$@"
