#!/usr/bin/env bash
# The least-privilege ACLs of docs/awx/pve-privileges.yml against pvesim: a privilege-separated token with
# exactly those privileges runs each module's cases, and with any one privilege less the cases fail
# naming it. pvesim enforces the privileges the way PVE's permission checks do (schema and handlers).
# The modules run in two halves side by side, each against its own pvesim: the target is the largest of the
# integration targets and keeps one controller core busy. `./runme.sh -e only=qemu,lxc` runs the named ones alone.
set -eu
cd "$(dirname "$0")"
# ansible-test runs a copy of the target; the documentation is in the collection it tests.
PRIVILEGES_FILE=${ANSIBLE_COLLECTIONS_PATH%%:*}/ansible_collections/pve/cloud/docs/awx/pve-privileges.yml
export PRIVILEGES_FILE
# the modules of the first half; the second runs all the others
FIRST=qemu,qemu_info,proxmox,placement,template,template_info

run() {
  # shellcheck source=../setup_pvesim/pvesim-env.sh
  source ../setup_pvesim/pvesim-env.sh --nodes 2 --scenario files/scenario.yml
  ansible-playbook main.yml "$@"
}

case " $* " in
  *only=*|*skip=*) run "$@"; exit ;;
esac

HALVES=("only=$FIRST" "skip=$FIRST")
pids=()
for i in "${!HALVES[@]}"; do
  (run -e "${HALVES[$i]}" "$@") > "$OUTPUT_DIR/half-$i.log" 2>&1 &
  pids+=($!)
done
rc=0
for i in "${!HALVES[@]}"; do
  wait "${pids[$i]}" || rc=1
  echo "=== awx_privileges, ${HALVES[$i]}"
  cat "$OUTPUT_DIR/half-$i.log"
done
exit "$rc"
