#!/usr/bin/env bash
# make demo: set up the toolchain, start pvesim with a 3-node cluster, and provision the demo fleet.
set -euo pipefail
source "$(dirname "$0")/../../.ci/env.sh"
setup_venv
sync_collection
STATE=$WORK/demo-pvesim
pvesim stop --state-dir "$STATE" >/dev/null 2>&1 || true
rm -rf "$STATE"
pvesim serve --nodes 3 --port 0 --state-dir "$STATE" --time-scale 0 --detach > "$WORK/demo-pvesim.log" 2>&1
for _ in $(seq 100); do [ -s "$STATE/connection.json" ] && break; sleep 0.1; done
field() { python -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$STATE/connection.json" "$1"; }
export PROXMOX_HOST=127.0.0.1 PROXMOX_PORT PROXMOX_CA_PATH PROXMOX_TOKEN_ID PROXMOX_TOKEN_SECRET
PROXMOX_PORT=$(field port)
PROXMOX_CA_PATH=$(field ca_path)
PROXMOX_TOKEN_ID=$(field token_id)
PROXMOX_TOKEN_SECRET=$(field token_secret)
cd "$COLL"
ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$(command -v python)" playbooks/demo/demo.yml
echo
echo "The fleet as a dynamic inventory (pve.cloud.proxmox, credentials from the environment):"
printf 'plugin: pve.cloud.proxmox\nwant_config: true\n' > "$WORK/demo.proxmox.yml"
ansible-inventory -i "$WORK/demo.proxmox.yml" --graph
cat <<MSG

pvesim is still running for you to explore ($(field url), CA $(field ca_path)):
  export PROXMOX_HOST=127.0.0.1 PROXMOX_PORT=$PROXMOX_PORT PROXMOX_CA_PATH=$PROXMOX_CA_PATH
  export PROXMOX_TOKEN_ID='$PROXMOX_TOKEN_ID' PROXMOX_TOKEN_SECRET=$PROXMOX_TOKEN_SECRET
Stop it with: $VENV/bin/pvesim stop --state-dir $STATE
MSG
