#!/usr/bin/env bash
# Cross-check: the lxc create / start / stop / absent cycle against PyPI fakepve, an independent PVE
# simulator, so the module is not tuned to pvesim. Differences: docs/fakepve-crosscheck.md.
set -eu
source ../setup_fakepve/fakepve-env.sh guests.json

# fakepve starts with empty storages: put the container template on local as pveam would
python - "$PORT" "$FAKE_DIR/fakepve.crt" <<'PY'
import sys, requests
base = 'https://127.0.0.1:%s/api2/json' % sys.argv[1]
s = requests.Session()
s.verify = sys.argv[2]
t = s.post(base + '/access/ticket', data={'username': 'root@pam', 'password': 'secret'}).json()['data']
s.cookies.set('PVEAuthCookie', t['ticket'])
s.headers['CSRFPreventionToken'] = t['CSRFPreventionToken']
r = s.post(base + '/nodes/pve1/storage/local/upload', data={'content': 'vztmpl'},
           files={'filename': ('debian-13-standard_13.1-1_amd64.tar.zst', b'\x28\xb5\x2f\xfd' + b'\0' * 64)})
r.raise_for_status()
PY
ansible-playbook main.yml "$@"
