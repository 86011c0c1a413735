#!/usr/bin/env bash
# pve.cloud.template against a private pvesim and a local web server (files/serve.py).
set -eu
source ../setup_pvesim/pvesim-env.sh
WEB_ROOT=$OUTPUT_DIR/web-$$
mkdir -p "$WEB_ROOT"
python files/serve.py "$WEB_ROOT" "$WEB_ROOT.port" &
WEB_PID=$!
trap 'kill $WEB_PID 2>/dev/null || true; pvesim stop --state-dir "$PVESIM_STATE" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 100); do [ -s "$WEB_ROOT.port" ] && break; sleep 0.1; done
WEB_URL=http://127.0.0.1:$(cat "$WEB_ROOT.port")
export WEB_ROOT WEB_URL
ansible-playbook main.yml "$@"
