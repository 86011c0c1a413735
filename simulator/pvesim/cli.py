"""Command line: `pvesim serve ...` and `pvesim stop ...`."""

import argparse
import datetime
import ipaddress
import json
import os
import signal
import sys
import threading
import time

import yaml

from .http.server import App, Server
from .model.cluster import Cluster


def ensure_certs(state_dir):
    """Write ca.pem, server.pem and server.key (signed by the private CA) on first start."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_path = os.path.join(state_dir, "ca.pem")
    cert_path = os.path.join(state_dir, "server.pem")
    key_path = os.path.join(state_dir, "server.key")
    if all(os.path.exists(p) for p in (ca_path, cert_path, key_path)):
        return ca_path, cert_path, key_path
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pvesim CA"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pvesim")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    with open(key_path, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    with open(ca_path, "wb") as fh:
        fh.write(ca.public_bytes(serialization.Encoding.PEM))
    return ca_path, cert_path, key_path


def load_scenario_file(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def generate_guests(cluster, count, seed=42):
    """A large mixed cluster for benchmarks: qemu/lxc, some running, agents, ipconfig, tags, pools."""
    import random
    rng = random.Random(seed)
    nodes = list(cluster.nodes)
    with cluster.lock:
        for st in cluster.storages.values():
            st.total = max(st.total, 100 * 1024 ** 4)
        for p in ("prod", "dev", "lab"):
            cluster.pools.setdefault(p, {"poolid": p, "comment": None, "vms": [], "storage": []})
        for i in range(count):
            vmid = 1000 + i
            gtype = "lxc" if i % 4 == 3 else "qemu"
            conf = {"cores": rng.choice([1, 2, 4]), "memory": rng.choice([512, 1024, 2048, 4096])}
            if gtype == "qemu":
                conf.update({"name": "vm-%d" % vmid, "scsi0": "local-lvm:%d" % rng.choice([8, 16, 32]),
                             "net0": "virtio,bridge=vmbr0", "ostype": "l26", "scsihw": "virtio-scsi-single"})
                if i % 3 == 0:
                    conf["agent"] = "1"
                    conf["ipconfig0"] = "ip=10.%d.%d.%d/16,gw=10.%d.0.1" % (
                        i // 65536 % 256, i // 256 % 256, i % 256 or 1, i // 65536 % 256)
            else:
                conf.update({"hostname": "ct-%d" % vmid, "rootfs": "local-lvm:8",
                             "net0": "name=eth0,bridge=vmbr0,ip=dhcp", "ostype": "debian", "arch": "amd64"})
            if i % 5 == 0:
                conf["tags"] = rng.choice(["web", "db;prod", "k8s;worker", "test"])
            gd = {"type": gtype, "vmid": vmid, "node": nodes[i % len(nodes)], "config": conf,
                  "status": "running" if i % 2 == 0 else "stopped"}
            if i % 7 == 0:
                gd["pool"] = rng.choice(["prod", "dev", "lab"])
            cluster.scenario_guest(gd)
        for st in cluster.storages.values():
            st.total = max(st.total, 100 * 1024 ** 4)
        cluster.touch()


class Running:
    """A started server (thread); .stop() shuts it down."""

    def __init__(self, server, thread, app, state_dir, info):
        self.server = server
        self.thread = thread
        self.app = app
        self.state_dir = state_dir
        self.info = info

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        stop = getattr(self, "_ticker_stop", None)
        if stop:
            stop.set()


def start(state_dir, nodes=3, port=0, scenario=None, time_scale=0.0, guests=0, auth_delay=0.0, pve_version="9.2"):
    """Start pvesim in a background thread; write connection.json once listening."""
    os.makedirs(state_dir, exist_ok=True)
    state_dir = os.path.abspath(state_dir)
    ca_path, cert_path, key_path = ensure_certs(state_dir)
    cluster = Cluster(nodes=nodes, time_scale=time_scale, pve_version=pve_version)
    if scenario:
        cluster.load_scenario(load_scenario_file(scenario) if isinstance(scenario, str) else scenario)
    if guests:
        generate_guests(cluster, guests)
    app = App(cluster, state_dir, auth_delay=auth_delay)
    server = Server(app, port, cert_path, key_path)
    real_port = server.server_address[1]
    info = {"url": "https://127.0.0.1:%d" % real_port, "host": "127.0.0.1", "port": real_port, "ca_path": ca_path,
            "user": "root@pam", "password": "pvesim", "token_id": "root@pam!pvesim", "token_name": "pvesim",
            "token_secret": cluster.root_token_secret}
    app.connection = info
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True, name="pvesim")
    thread.start()
    running = Running(server, thread, app, state_dir, info)
    if time_scale:
        ev = threading.Event()

        def ticker():
            while not ev.wait(0.2):
                with cluster.lock:
                    cluster.tick()
        threading.Thread(target=ticker, daemon=True).start()
        running._ticker_stop = ev
    tmp = os.path.join(state_dir, "connection.json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=2)
    os.replace(tmp, os.path.join(state_dir, "connection.json"))
    return running


def _serve(args):
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    conn = os.path.join(state_dir, "connection.json")
    if os.path.exists(conn):
        os.unlink(conn)
    if args.detach:
        pid = os.fork()
        if pid:
            for _ in range(300):
                if os.path.exists(conn):
                    break
                time.sleep(0.05)
            _print_info(conn)
            return 0
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        log = os.open(os.path.join(state_dir, "pvesim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        with open(os.path.join(state_dir, "pvesim.pid"), "w") as fh:
            fh.write(str(os.getpid()))
    running = start(state_dir, args.nodes, args.port, args.scenario, args.time_scale, args.guests, args.auth_delay,
                    args.pve_version)
    if not args.detach:
        _print_info(conn)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    running.stop()
    pidfile = os.path.join(state_dir, "pvesim.pid")
    if args.detach and os.path.exists(pidfile):
        os.unlink(pidfile)
    return 0


def _print_info(conn):
    try:
        with open(conn, encoding="utf-8") as fh:
            info = json.load(fh)
    except OSError:
        print("pvesim did not start (no %s)" % conn, file=sys.stderr)
        return
    print(connection_text(info, conn))
    sys.stdout.flush()


def connection_text(info, conn):
    """The start banner: every credential on its own line, then ready-to-paste exports for pve.cloud."""
    return "\n".join([
        "pvesim listening on %s" % info["url"],
        "CA certificate: %s" % info["ca_path"],
        "user:           %s" % info["user"],
        "password:       %s" % info["password"],
        "token id:       %s" % info["token_id"],
        "token secret:   %s" % info["token_secret"],
        "(machine-readable: %s)" % conn,
        "",
        "export PROXMOX_HOST=%s PROXMOX_PORT=%s PROXMOX_CA_PATH=%s" % (info["host"], info["port"], info["ca_path"]),
        "export PROXMOX_TOKEN_ID='%s' PROXMOX_TOKEN_SECRET=%s" % (info["token_id"], info["token_secret"]),
    ])


def _stop(args):
    pidfile = os.path.join(os.path.abspath(args.state_dir), "pvesim.pid")
    try:
        with open(pidfile) as fh:
            pid = int(fh.read().strip())
    except (OSError, ValueError):
        print("no pvesim.pid in %s" % args.state_dir, file=sys.stderr)
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    print("pvesim stopped")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="pvesim", description="Proxmox VE 9 API simulator (HTTPS on 127.0.0.1)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the simulator")
    s.add_argument("--nodes", type=int, default=3)
    s.add_argument("--port", type=int, default=8006)
    s.add_argument("--state-dir", required=True)
    s.add_argument("--scenario")
    s.add_argument("--time-scale", type=float, default=0.0)
    s.add_argument("--guests", type=int, default=0)
    s.add_argument("--auth-delay", type=float, default=0.0, help="seconds to delay 401 answers (PVE: 3)")
    s.add_argument("--pve-version", default="9.2", choices=["9.2", "8.4"],
                   help="answer as this PVE release (8.4: HA groups instead of rules, see the README)")
    s.add_argument("--detach", action="store_true")
    t = sub.add_parser("stop", help="stop a detached simulator")
    t.add_argument("--state-dir", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        return _serve(args)
    return _stop(args)


if __name__ == "__main__":
    sys.exit(main())
