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
# The least-privilege API token of README.md ("Against your own cluster"): the demo runs with it, so a privilege
# the modules need and README.md leaves out fails the demo (and `make test`).
API_USER=ansible@pve TOKEN=automation ROLE=PVECloudVM
PRIVS="VM.Allocate VM.Audit VM.Clone VM.Config.CDROM VM.Config.CPU VM.Config.Cloudinit VM.Config.Disk VM.Config.HWType"
PRIVS+=" VM.Config.Memory VM.Config.Network VM.Config.Options VM.GuestAgent.Audit VM.PowerMgmt"
ACLS=("/vms $ROLE" "/storage PVEDatastoreUser" "/sdn/zones/localnetwork PVESDNUser")

step() {
  STEP=$((STEP + 1)) TITLE=$1
  printf '\n[%d/%d] %s\n' "$STEP" "$STEPS" "$TITLE"
}

# Every exit, also a failure or Ctrl-C, says what happened to pvesim.
finish() {
  local rc=$?
  trap - EXIT
  if [ "$rc" -eq 130 ]; then
    printf '\nmake demo interrupted in step %s/%s (%s).\n' "$STEP" "$STEPS" "$TITLE" >&2
  elif [ "$rc" -ne 0 ]; then
    printf '\nmake demo FAILED in step %s/%s (%s) with exit status %s.\n' "$STEP" "$STEPS" "$TITLE" "$rc" >&2
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

# pveum_commands: the commands README.md gives for the token (checked against README.md by --check).
pveum_commands() {
  local acl
  echo "pveum user add $API_USER"
  echo "pveum role add $ROLE --privs \"$PRIVS\""
  for acl in "${ACLS[@]}"; do echo "pveum acl modify ${acl% *} --users $API_USER --roles ${acl#* }"; done
  echo "pveum user token add $API_USER $TOKEN --privsep 0"
}

# make_token: the same as pveum_commands, through the API with pvesim's root token; prints the new secret.
make_token() {
  python - "$STATE/connection.json" "$API_USER" "$TOKEN" "$ROLE" "$PRIVS" "${ACLS[@]}" <<'PY'
import json, ssl, sys, urllib.error, urllib.parse, urllib.request
conn = json.load(open(sys.argv[1]))
user, token, role, privs, acls = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
context = ssl.create_default_context(cafile=conn['ca_path'])
auth = 'PVEAPIToken=%s=%s' % (conn['token_id'], conn['token_secret'])

def call(method, url_path, **params):
    request = urllib.request.Request(conn['url'] + '/api2/json' + url_path, method=method,
                                     data=urllib.parse.urlencode(params).encode(), headers={'Authorization': auth})
    try:
        return json.load(urllib.request.urlopen(request, context=context))['data']
    except urllib.error.HTTPError as err:
        sys.exit('%s %s: %s %s %s' % (method, url_path, err.code, err.reason, err.read().decode()))

call('POST', '/access/users', userid=user)
call('POST', '/access/roles', roleid=role, privs=','.join(privs.split()))
for acl in acls:
    path, roles = acl.split(' ', 1)
    call('PUT', '/access/acl', path=path, users=user, roles=roles)
print(call('POST', '/access/users/%s/token/%s' % (user, token), privsep=0)['value'])
PY
}

step "Toolchain: Python 3.12 virtual environment with the pinned tools in $VENVS/venv"
setup_venv
versions=$(ansible --version)
echo "    ${versions%%$'\n'*}, $(python --version)"

step "The collection, installed from this checkout into $COLLECTIONS"
export ANSIBLE_COLLECTIONS_PATH=$COLLECTIONS
rm -rf "$COLLECTIONS"
mkdir -p "$WORK"
ansible-galaxy collection install --force -p "$COLLECTIONS" "$ROOT" > "$WORK/$RUN-galaxy.log" ||
  { cat "$WORK/$RUN-galaxy.log" >&2; exit 1; }
echo "    $(tail -n 1 "$WORK/$RUN-galaxy.log")"

step "pvesim: a simulated Proxmox VE 9 cluster of 3 nodes on 127.0.0.1 (state in $STATE)"
if pvesim stop --state-dir "$STATE" >/dev/null 2>&1; then echo "    (stopped the pvesim of an earlier run first)"; fi
rm -rf "$STATE"
mkdir -p "$STATE"
STARTED=true
pvesim serve --nodes 3 --port 0 --state-dir "$STATE" --time-scale 0 --detach > "$STATE/serve.log" 2>&1
for _ in $(seq 100); do [ -s "$STATE/connection.json" ] && break; sleep 0.1; done
[ -s "$STATE/connection.json" ] || { cat "$STATE/serve.log" >&2; echo "pvesim did not start" >&2; exit 1; }
export PROXMOX_HOST=127.0.0.1 PROXMOX_PORT PROXMOX_CA_PATH PROXMOX_TOKEN_ID PROXMOX_TOKEN_SECRET
PROXMOX_PORT=$(field port)
PROXMOX_CA_PATH=$(field ca_path)
PROXMOX_TOKEN_ID=$API_USER!$TOKEN
PROXMOX_TOKEN_SECRET=$(make_token)
echo "    $(field url), nodes pve1 pve2 pve3, CA $PROXMOX_CA_PATH"
echo "    API token $PROXMOX_TOKEN_ID with the least privileges the modules need, made as on a real cluster with:"
pveum_commands | indent '      '

PROVISION=("$ROOT/playbooks/provision_cluster.yml" -e "@$ROOT/playbooks/vars/simulated.yml")
step "Provision the cluster: ansible-playbook playbooks/provision_cluster.yml -e @playbooks/vars/simulated.yml"
echo "    (a golden image from the Debian cloud image, then the fleet 'demo': three web VMs, a database VM and two containers, placed by the fleet role)"
playbook "$WORK/$RUN-run1.log" "${PROVISION[@]}"

step "What was provisioned where (the pve.cloud.proxmox inventory of the cluster)"
INVENTORY=$WORK/$RUN.proxmox.yml
printf 'plugin: pve.cloud.proxmox\nwant_addresses: true\ninclude_templates: true\nhost_facts: [vmid, node, status, template]\n' > "$INVENTORY"
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
    # containers have no proxmox_template fact unless they are templates
    status = 'template' if facts.get('proxmox_template') else facts['proxmox_status']
    rows.append((name, str(facts['proxmox_vmid']), facts['proxmox_node'], status, address))
widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
for row in rows:
    print('    ' + '  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
PY

step "The inventory graph: ansible-inventory -i $INVENTORY --graph"
ansible-inventory -i "$INVENTORY" --graph

step "The same playbook again: it must report changed=0 and send pvesim no write"
before=$(counters)
playbook "$WORK/$RUN-run2.log" "${PROVISION[@]}"
after=$(counters)
read -r writes_before _ <<<"$before"
read -r writes_after reads_after <<<"$after"
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
  STEP=$STEPS TITLE="README.md shows what the demo ran"
  while IFS= read -r line; do
    grep -qxF "$line" "$ROOT/README.md" || { echo "README.md lacks the line: $line" >&2; exit 1; }
  done < <(pveum_commands; echo "$OWN playbooks/demo/my_first_playbook.yml")
  python - "$ROOT/README.md" "$DEMO/my_first_playbook.yml" <<'PY'
import sys
readme, playbook = (open(path).read() for path in sys.argv[1:])
if playbook not in readme:
    sys.exit('README.md does not show playbooks/demo/my_first_playbook.yml as it is: copy it in again')
PY
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
