# shellcheck shell=bash
# Sourced by the runme.sh of the *_fakepve targets: starts PyPI fakepve (an independent PVE simulator) with
# the guests of guests.json on a free port and its own certificate, exports the PROXMOX_* variables the
# modules read (password auth: ticket + CSRF), and stops it when the target ends.
#   source ../setup_fakepve/fakepve-env.sh guests.json
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
fakepve "$1" --host 127.0.0.1 --port "$PORT" --time-scale 0 \
  --cert "$FAKE_DIR/fakepve.crt" --key "$FAKE_DIR/fakepve.key" > "$FAKE_DIR/fakepve.log" 2>&1 &
FAKE_PID=$!
trap 'kill "$FAKE_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q listening "$FAKE_DIR/fakepve.log" && break; sleep 0.1; done
grep -q listening "$FAKE_DIR/fakepve.log" || { cat "$FAKE_DIR/fakepve.log"; exit 1; }

unset PROXMOX_TOKEN_ID PROXMOX_TOKEN_SECRET
export PROXMOX_HOST=127.0.0.1 PROXMOX_PORT=$PORT PROXMOX_USER=root@pam PROXMOX_PASSWORD=secret
export PROXMOX_CA_PATH=$FAKE_DIR/fakepve.crt
