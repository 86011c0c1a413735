#!/usr/bin/env bash
# Cross-check: the lxc create / start / stop / absent cycle against PyPI fakepve, an independent PVE
# simulator, so the module is not tuned to pvesim. Differences: docs/fakepve-crosscheck.md.
set -eu
FAKE_DIR=${OUTPUT_DIR:?}/fakepve-$$
mkdir -p "$FAKE_DIR"
python - "$FAKE_DIR" <<'PY'
import socket, sys
from fakepve.certs import make_cert
make_cert(sys.argv[1], hosts=('127.0.0.1',))
s = socket.socket()
s.bind(('127.0.0.1', 0))
open(sys.argv[1] + '/port', 'w').write(str(s.getsockname()[1]))
s.close()
PY
PORT=$(cat "$FAKE_DIR/port")
fakepve guests.json --host 127.0.0.1 --port "$PORT" --time-scale 0 \
  --cert "$FAKE_DIR/fakepve.crt" --key "$FAKE_DIR/fakepve.key" > "$FAKE_DIR/fakepve.log" 2>&1 &
FAKE_PID=$!
trap 'kill "$FAKE_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q listening "$FAKE_DIR/fakepve.log" && break; sleep 0.1; done
grep -q listening "$FAKE_DIR/fakepve.log" || { cat "$FAKE_DIR/fakepve.log"; exit 1; }

unset PROXMOX_TOKEN_ID PROXMOX_TOKEN_SECRET
export PROXMOX_HOST=127.0.0.1 PROXMOX_PORT=$PORT PROXMOX_USER=root@pam PROXMOX_PASSWORD=secret
export PROXMOX_CA_PATH=$FAKE_DIR/fakepve.crt
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
