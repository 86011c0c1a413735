#!/usr/bin/env bash
# pve.cloud.qemu_info against a private pvesim loaded with a small fleet (scenario.yml).
set -eu
source ../setup_pvesim/pvesim-env.sh --scenario scenario.yml
ansible-playbook main.yml "$@"

# -vvv: the result lists every API call, and nothing else is secret-bearing
ansible-playbook -vvv verbose.yml "$@" > "$OUTPUT_DIR/verbose.log"
grep -q "GET /cluster/resources -> 200" "$OUTPUT_DIR/verbose.log"
if grep -q "$PROXMOX_TOKEN_SECRET" "$OUTPUT_DIR/verbose.log"; then
  echo "the token secret leaked into -vvv output" >&2
  exit 1
fi
