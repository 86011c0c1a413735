# shellcheck shell=bash
# Sourced by the runme.sh of integration targets: starts a private pvesim for the target, exports
# the PROXMOX_* variables the modules read, and stops the simulator when the target ends.
#   source ../setup_pvesim/pvesim-env.sh [--nodes N] [--scenario FILE] [other pvesim serve options]
# BASHPID: each subshell that sources this (runme.sh halves running side by side) gets its own pvesim
PVESIM_STATE=${OUTPUT_DIR:?}/pvesim-${BASHPID:-$$}
mkdir -p "$PVESIM_STATE"
pvesim serve --port 0 --state-dir "$PVESIM_STATE" --time-scale "${PVESIM_TIME_SCALE:-0}" --detach "$@" \
  > "$PVESIM_STATE/serve.log" 2>&1
for _ in $(seq 100); do [ -s "$PVESIM_STATE/connection.json" ] && break; sleep 0.1; done
[ -s "$PVESIM_STATE/connection.json" ] || { cat "$PVESIM_STATE/serve.log"; echo "pvesim did not start" >&2; exit 1; }
trap 'pvesim stop --state-dir "$PVESIM_STATE" >/dev/null 2>&1 || true' EXIT

pvesim_field() { python -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$PVESIM_STATE/connection.json" "$1"; }
PVESIM_URL=$(pvesim_field url)
export PVESIM_URL PVESIM_STATE
export PROXMOX_HOST=127.0.0.1
PROXMOX_PORT=$(pvesim_field port)
PROXMOX_CA_PATH=$(pvesim_field ca_path)
PROXMOX_TOKEN_ID=$(pvesim_field token_id)
PROXMOX_TOKEN_SECRET=$(pvesim_field token_secret)
export PROXMOX_PORT PROXMOX_CA_PATH PROXMOX_TOKEN_ID PROXMOX_TOKEN_SECRET
# Password credentials for the tests that need them; not exported so token auth stays unambiguous.
PVESIM_USER=$(pvesim_field user)
PVESIM_PASSWORD=$(pvesim_field password)
export PVESIM_USER PVESIM_PASSWORD
# An unrelated bundle, so a test passes only when ca_path (not the environment) decides trust.
REQUESTS_CA_BUNDLE=$(python -c 'import certifi; print(certifi.where())')
export REQUESTS_CA_BUNDLE
