#!/usr/bin/env bash
# make demo: the toolchain, a simulated 3-node cluster (pvesim), the demo fleet provisioned on it, the fleet as
# the inventory plugin sees it, a second run that must change nothing, and how to go on from there.
# `run.sh --check` is the demo check of `make test`: the same steps, non-interactive, pvesim stopped at the end.
set -euo pipefail
source "$(dirname "$0")/../../.ci/env.sh"

CHECK=false
case "${1:-}" in
  --check) CHECK=true ;;
  '') ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
# The check has its own simulator and collection copy, so it never stops a demo someone is exploring.
RUN=demo
if $CHECK; then RUN=demo-check; fi
DEMO=$ROOT/playbooks/demo
STATE=$WORK/$RUN-pvesim
COLLECTIONS=$WORK/$RUN-collections
STEPS=8 STEP=0 TITLE='' STARTED=false

step() {
  STEP=$((STEP + 1)) TITLE=$1
  printf '\n[%d/%d] %s\n' "$STEP" "$STEPS" "$TITLE"
}

# Every exit, also a failure or Ctrl-C, says what happened to pvesim.
finish() {
  local rc=$?
  trap - EXIT
  if [ "$rc" -ne 0 ]; then
    echo >&2
    echo "make demo FAILED in step $STEP/$STEPS ($TITLE) with exit status $rc." >&2
  fi
  if $STARTED && { [ "$rc" -ne 0 ] || $CHECK; }; then
    if pvesim stop --state-dir "$STATE" >/dev/null 2>&1; then
      echo "pvesim stopped (its log and request log stay in $STATE)."
    else
      echo "pvesim may still be running; stop it with: $VENV/bin/pvesim stop --state-dir $STATE" >&2
    fi
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# Ansible's colours survive the tee below only when asked for.
if [ -t 1 ]; then export ANSIBLE_FORCE_COLOR=1; fi

# ansible-playbook on localhost with the venv's Python (the modules need proxmoxer), its output also in a log.
playbook() {
  local log=$1
  shift
  ansible-playbook -i localhost, -c local -e 'ansible_python_interpreter={{ ansible_playbook_python }}' "$@" |
    tee "$log"
}

indent() { sed "s/^/$1/"; }
field() { python -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$STATE/connection.json" "$1"; }

# counters: "WRITES READS" as pvesim counted them so far.
counters() {
  python - "$(field url)/_pvesim/counters" "$PROXMOX_CA_PATH" <<'PY'
import json, ssl, sys, urllib.request
answer = urllib.request.urlopen(sys.argv[1], context=ssl.create_default_context(cafile=sys.argv[2]))
data = json.load(answer)['data']
print(data['writes'], data['reads'])
PY
}

step "Toolchain: Python 3.12 virtual environment with the pinned tools in $VENVS/venv"
setup_venv
echo "    $(ansible --version | head -n 1), $(python --version)"

step "The collection, installed from this checkout into $COLLECTIONS"
export ANSIBLE_COLLECTIONS_PATH=$COLLECTIONS
rm -rf "$COLLECTIONS"
ansible-galaxy collection install --force -p "$COLLECTIONS" "$ROOT" > "$WORK/$RUN-galaxy.log" ||
  { cat "$WORK/$RUN-galaxy.log" >&2; exit 1; }
echo "    $(tail -n 1 "$WORK/$RUN-galaxy.log")"

step "pvesim: a simulated Proxmox VE 9 cluster of 3 nodes on 127.0.0.1 (state in $STATE)"
pvesim stop --state-dir "$STATE" >/dev/null 2>&1 || true
rm -rf "$STATE"
mkdir -p "$STATE"
STARTED=true
pvesim serve --nodes 3 --port 0 --state-dir "$STATE" --time-scale 0 --detach > "$STATE/serve.log" 2>&1
for _ in $(seq 100); do [ -s "$STATE/connection.json" ] && break; sleep 0.1; done
[ -s "$STATE/connection.json" ] || { cat "$STATE/serve.log" >&2; echo "pvesim did not start" >&2; exit 1; }
export PROXMOX_HOST=127.0.0.1 PROXMOX_PORT PROXMOX_CA_PATH PROXMOX_TOKEN_ID PROXMOX_TOKEN_SECRET
PROXMOX_PORT=$(field port)
PROXMOX_CA_PATH=$(field ca_path)
PROXMOX_TOKEN_ID=$(field token_id)
PROXMOX_TOKEN_SECRET=$(field token_secret)
echo "    $(field url), nodes pve1 pve2 pve3, CA $PROXMOX_CA_PATH, API token $PROXMOX_TOKEN_ID"

step "Provision the demo fleet: ansible-playbook playbooks/demo/demo.yml"
playbook "$WORK/$RUN-run1.log" "$DEMO/demo.yml"

step "What was provisioned where (the pve.cloud.proxmox inventory of the cluster)"
INVENTORY=$WORK/$RUN.proxmox.yml
printf 'plugin: pve.cloud.proxmox\nwant_addresses: true\ninclude_templates: true\n' > "$INVENTORY"
ansible-inventory -i "$INVENTORY" --list > "$WORK/$RUN-inventory.json"
python - "$WORK/$RUN-inventory.json" <<'PY'
import json, sys
# ansible-inventory marks values from the API as unsafe: {"__ansible_unsafe": value}
hostvars = json.load(open(sys.argv[1]), object_hook=lambda o: o.get('__ansible_unsafe', o))['_meta']['hostvars']
rows = [('guest', 'vmid', 'node', 'status', 'address')]
for name, facts in sorted(hostvars.items(), key=lambda item: item[1]['proxmox_vmid']):
    address = facts.get('ansible_host', '-')
    if facts.get('proxmox_address_source'):
        address += ' (from %s)' % facts['proxmox_address_source']
    status = 'template' if facts['proxmox_template'] else facts['proxmox_status']
    rows.append((name, str(facts['proxmox_vmid']), facts['proxmox_node'], status, address))
widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
for row in rows:
    print('    ' + '  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
PY

step "The inventory graph: ansible-inventory -i $INVENTORY --graph"
ansible-inventory -i "$INVENTORY" --graph

step "The same playbook again: it must report changed=0 and send pvesim no write"
read -r writes_before _ <<<"$(counters)"
playbook "$WORK/$RUN-run2.log" "$DEMO/demo.yml"
read -r writes_after reads_after <<<"$(counters)"
recap=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/$RUN-run2.log" | grep -E '^localhost +: ' || true)
if ! grep -qE ' changed=0 .* failed=0 ' <<<"$recap"; then
  echo "The second run was not idempotent: $recap" >&2
  exit 1
fi
if [ "$writes_after" -ne "$writes_before" ]; then
  echo "The second run sent pvesim $((writes_after - writes_before)) writes (see $STATE/requests.jsonl)" >&2
  exit 1
fi
echo "    ok: changed=0, and pvesim's write counter stayed at $writes_after ($reads_after reads so far)"

# The commands for the reader's own playbooks, printed and then run exactly as printed in a clean environment.
USE=$(cat <<EOF
source $(printf %q "$VENV")/bin/activate
export ANSIBLE_COLLECTIONS_PATH=$(printf %q "$COLLECTIONS")
export PROXMOX_HOST=$PROXMOX_HOST PROXMOX_PORT=$PROXMOX_PORT PROXMOX_CA_PATH=$(printf %q "$PROXMOX_CA_PATH")
export PROXMOX_TOKEN_ID='$PROXMOX_TOKEN_ID' PROXMOX_TOKEN_SECRET=$PROXMOX_TOKEN_SECRET
EOF
)
OWN="ansible-playbook -i localhost, -c local -e 'ansible_python_interpreter={{ ansible_playbook_python }}'"
step "Your own playbook against the simulator (this runs playbooks/demo/my_first_playbook.yml, shown in README.md)"
indent '    ' <<<"$USE"
echo "    cd $(printf %q "$ROOT") && $OWN playbooks/demo/my_first_playbook.yml"
env -i HOME="$HOME" PATH=/usr/local/bin:/usr/bin:/bin LANG="${LANG:-C.UTF-8}" TERM="${TERM:-dumb}" \
  bash -euc "$USE
cd $(printf %q "$ROOT") && $OWN playbooks/demo/my_first_playbook.yml"

if $CHECK; then
  echo
  echo "demo check passed"
  exit 0
fi
cat <<EOF

pvesim keeps running at $(field url) for you to explore. In another shell:

$(indent '  ' <<<"$USE")
  $OWN your-playbook.yml

Stop it with:
  $(printf %q "$VENV")/bin/pvesim stop --state-dir $(printf %q "$STATE")
EOF
