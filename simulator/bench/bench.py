"""pvesim benchmark (not a test): keep-alive GET throughput, /cluster/resources latency and RSS at N guests.

    python bench/bench.py [--guests 10000] [--requests 3000]

Starts `pvesim serve` in a subprocess (so RSS is the server's own), then drives it with http.client over one
keep-alive connection.
"""

import argparse
import http.client
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--guests", type=int, default=10000)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--nodes", type=int, default=3)
    args = ap.parse_args()
    state = tempfile.mkdtemp(prefix="pvesim-bench-")
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "pvesim.cli", "serve", "--nodes", str(args.nodes), "--port", "0",
                             "--state-dir", state, "--guests", str(args.guests)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn_file = os.path.join(state, "connection.json")
    try:
        while not os.path.exists(conn_file):
            if proc.poll() is not None:
                raise SystemExit("pvesim exited early")
            time.sleep(0.05)
        startup = time.time() - t0
        with open(conn_file) as fh:
            info = json.load(fh)
        ctx = ssl.create_default_context(cafile=info["ca_path"])
        conn = http.client.HTTPSConnection(info["host"], info["port"], context=ctx)
        hdr = {"Authorization": "PVEAPIToken=%s=%s" % (info["token_id"], info["token_secret"])}

        def get(path):
            conn.request("GET", "/api2/json" + path, headers=hdr)
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, (r.status, r.reason)
            return body

        vms = json.loads(get("/cluster/resources?type=vm"))["data"]
        vm = next(v for v in vms if v["type"] == "qemu")
        path = "/nodes/%s/qemu/%d/config" % (vm["node"], vm["vmid"])
        for _ in range(100):
            get(path)
        cpu0 = _proc_cpu(proc.pid)
        t = time.perf_counter()
        for _ in range(args.requests):
            get(path)
        elapsed = time.perf_counter() - t
        server_cpu = _proc_cpu(proc.pid) - cpu0
        lat = []
        for _ in range(20):
            t = time.perf_counter()
            body = get("/cluster/resources")
            lat.append((time.perf_counter() - t) * 1000)
        nres = len(json.loads(body)["data"])
        lat_vm = []
        for _ in range(20):
            t = time.perf_counter()
            get("/cluster/resources?type=vm")
            lat_vm.append((time.perf_counter() - t) * 1000)
        rss = rss_mb(proc.pid)
        print("guests:                       %d (%d resources), startup %.1f s" % (len(vms), nres, startup))
        print("GET config over keep-alive:   %.0f req/s (%d requests, %.2f ms each, server CPU %.2f s = %.0f req/s per core)"
              % (args.requests / elapsed, args.requests, elapsed / args.requests * 1000, server_cpu,
                 args.requests / server_cpu if server_cpu else float("inf")))
        print("/cluster/resources latency:   median %.1f ms, p95 %.1f ms, max %.1f ms (%d KiB)" % (
            statistics.median(lat), sorted(lat)[int(len(lat) * 0.95) - 1], max(lat), len(body) // 1024))
        print("/cluster/resources?type=vm:   median %.1f ms" % statistics.median(lat_vm))
        print("server RSS:                   %.0f MB" % rss)
    finally:
        proc.terminate()
        proc.wait(10)


def _proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
