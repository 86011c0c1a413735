#!/usr/bin/env bash
# make bench: benchmarks, not tests. pvesim's own throughput, then pve.cloud next to community.proxmox 2.0.0
# (PyPI ansible==14.5.0, in its own virtual environment under .work/, never needed by make test) on the same
# pvesim with latency on every request. Options go to benchmarks/compare.py (--quick, --sizes, --latency-ms ...).
set -euo pipefail
source "$(dirname "$0")/../.ci/env.sh"
setup_venv
sync_collection
PEER_VENV=$VENVS/bench-peer
# the peer's stack, pinned: the ansible package of community.proxmox 2.0.0 and the libraries we test with
PEER_REQS=(ansible==14.5.0 ansible-core==2.21.5 proxmoxer==2.3.0 requests==2.34.2 urllib3==2.8.0)
stamp=$(printf '%s\n' "${PEER_REQS[@]}" | sha1sum | cut -c1-12)
if [ ! -f "$PEER_VENV/.stamp-$stamp" ]; then
  echo "::: installing community.proxmox 2.0.0 (ansible 14.5.0, about 50 MB) into $PEER_VENV"
  [ -x "$PEER_VENV/bin/python" ] || "$(find_python 3.12)" -m venv "$PEER_VENV"
  "$PEER_VENV/bin/pip" install -q "${PEER_REQS[@]}"
  rm -f "$PEER_VENV"/.stamp-* && touch "$PEER_VENV/.stamp-$stamp"
fi
echo "::: pvesim throughput"
python "$ROOT/simulator/bench/bench.py"
echo "::: pve.cloud and community.proxmox side by side"
python "$ROOT/benchmarks/compare.py" --peer-venv "$PEER_VENV" "$@"
echo "::: API calls of a qemu and an lxc create and no-op"
python "$ROOT/benchmarks/guest_calls.py"
echo "::: controller memory of a streamed template upload"
COLL="$COLL" python "$ROOT/benchmarks/template_upload.py"
echo "::: the fleet role at scale (60 guests; 300 with: bash benchmarks/fleet_scale.sh --sizes 60,300)"
python "$ROOT/benchmarks/fleet_scale.py" --sizes 60
