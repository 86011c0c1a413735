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
HALVES=("qemu,qemu_info,proxmox,placement,template,template_info" "lxc,lxc_info,snapshot,backup,backup_info,restore,ha")

run() {
  # shellcheck source=../setup_pvesim/pvesim-env.sh
  source ../setup_pvesim/pvesim-env.sh --nodes 2 --scenario files/scenario.yml
  ansible-playbook main.yml "$@"
}

case " $* " in
  *only=*) run "$@"; exit ;;
esac

python - "$PRIVILEGES_FILE" "${HALVES[@]}" <<'PY'
import sys, yaml
modules = sorted(yaml.safe_load(open(sys.argv[1]))['modules'])
listed = sorted(m for half in sys.argv[2:] for m in half.split(','))
if listed != modules:
    sys.exit('runme.sh: HALVES lists %s, but docs/awx/pve-privileges.yml has %s: every module in one half' % (listed, modules))
PY

pids=()
for i in "${!HALVES[@]}"; do
  (run -e "only=${HALVES[$i]}" "$@") > "$OUTPUT_DIR/half-$i.log" 2>&1 &
  pids+=($!)
done
rc=0
for i in "${!HALVES[@]}"; do
  wait "${pids[$i]}" || rc=1
  echo "=== awx_privileges, modules ${HALVES[$i]}"
  cat "$OUTPUT_DIR/half-$i.log"
done
exit "$rc"
