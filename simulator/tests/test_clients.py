"""proxmoxer drives a full VM cycle; 20 threads create VMs in parallel; the CLI starts and stops a daemon."""

import json
import os
import subprocess
import sys
import threading
import time

import requests

from conftest import Api


def wait(px, node, upid):
    for _ in range(200):
        st = px.nodes(node).tasks(upid).status.get()
        if st["status"] == "stopped":
            return st["exitstatus"]
        time.sleep(0.01)
    raise AssertionError("task did not finish")


def test_proxmoxer_cycle(pvesim, monkeypatch):
    from proxmoxer import ProxmoxAPI
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pvesim.ca_path)
    px = ProxmoxAPI(pvesim.host, port=pvesim.port, user=pvesim.user, password=pvesim.password,
                    verify_ssl=pvesim.ca_path)
    assert px.version.get()["release"] == "9.2"
    vmid = int(px.cluster.nextid.get())
    node = px.nodes("pve1")
    assert wait(px, "pve1", node.qemu.create(vmid=vmid, name="px", memory=1024, scsi0="local-lvm:4",
                                             net0="virtio,bridge=vmbr0")) == "OK"
    assert wait(px, "pve1", node.qemu(vmid).clone.post(newid=vmid + 1, name="px-clone", full=1)) == "OK"
    assert wait(px, "pve1", node.qemu(vmid + 1).status.start.post()) == "OK"
    assert node.qemu(vmid + 1).status.current.get()["status"] == "running"
    assert wait(px, "pve1", node.qemu(vmid + 1).resize.put(disk="scsi0", size="+1G")) == "OK"
    assert node.qemu(vmid + 1).config.get()["scsi0"].endswith("size=5G")
    assert wait(px, "pve1", node.qemu(vmid + 1).snapshot.post(snapname="before")) == "OK"
    assert [s["name"] for s in node.qemu(vmid + 1).snapshot.get()] == ["before", "current"]
    assert wait(px, "pve1", node.qemu(vmid + 1).migrate.post(target="pve2", online=1, **{"with-local-disks": 1})) == "OK"
    vm = px.nodes("pve2").qemu(vmid + 1)
    assert wait(px, "pve2", vm.status.stop.post()) == "OK"
    assert wait(px, "pve2", vm.delete(purge=1)) == "OK"
    assert wait(px, "pve1", node.qemu(vmid).delete()) == "OK"
    assert px.cluster.resources.get(type="vm") == []
    # proxmoxer reads the reason phrase for errors
    from proxmoxer.core import ResourceException
    try:
        node.qemu(999).config.get()
    except ResourceException as exc:
        assert exc.status_code == 500
        assert "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist" in str(exc)
    else:
        raise AssertionError("expected an error")
    # token auth through proxmoxer as well
    name, tok = pvesim.token_id.split("!")
    pxt = ProxmoxAPI(pvesim.host, port=pvesim.port, user=name, token_name=tok, token_value=pvesim.token_secret,
                     verify_ssl=pvesim.ca_path)
    assert len(pxt.nodes.get()) == 3


def test_parallel_create(pvesim):
    errors = []
    upids = {}

    def worker(i):
        try:
            api = Api(pvesim)
            for j in range(3):
                vmid = 1000 + i * 10 + j
                node = "pve%d" % (1 + (i % 3))
                upid = api.ok("POST", "/nodes/%s/qemu" % node,
                              data={"vmid": vmid, "scsi0": "local-lvm:1", "net0": "virtio,bridge=vmbr0",
                                    "name": "par%d" % vmid})
                upids[vmid] = upid
                api.ok("PUT", "/nodes/%s/qemu/%d/config" % (node, vmid), data={"description": "t%d" % i})
                api.ok("GET", "/cluster/resources")
                r = api.post("/nodes/%s/qemu" % node, data={"vmid": vmid})
                assert r.status_code == 500
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    api = Api(pvesim)
    res = api.ok("GET", "/cluster/resources", params={"type": "vm"})
    assert len(res) == 60 and len({x["vmid"] for x in res}) == 60
    macs = set()
    disks = set()
    for x in res:
        c = api.ok("GET", "/nodes/%s/qemu/%d/config" % (x["node"], x["vmid"]))
        assert "lock" not in c and c["description"].startswith("t")
        macs.add(c["net0"])
        disks.add((x["node"], c["scsi0"].split(",")[0]))
    assert len(macs) == 60 and len(disks) == 60
    assert len(set(upids.values())) == 60
    assert pvesim.counters()["writes"] == 60 * 3


def test_cli_detach_and_stop(tmp_path):
    state = str(tmp_path / "state")
    exe = [sys.executable, "-m", "pvesim.cli"]
    out = subprocess.run(exe + ["serve", "--nodes", "2", "--port", "0", "--state-dir", state, "--detach"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pvesim listening on https://127.0.0.1:" in out.stdout
    with open(os.path.join(state, "connection.json")) as fh:
        conn = json.load(fh)
    assert set(conn) == {"url", "host", "port", "ca_path", "user", "password", "token_id", "token_name",
                         "token_secret"}
    # the banner gives id and secret apart, and exports a shell can paste
    assert "token id:       root@pam!pvesim\n" in out.stdout
    assert "token secret:   %s\n" % conn["token_secret"] in out.stdout
    assert "export PROXMOX_TOKEN_ID='root@pam!pvesim' PROXMOX_TOKEN_SECRET=%s" % conn["token_secret"] in out.stdout
    assert "PROXMOX_PORT=%d " % conn["port"] in out.stdout
    assert conn["host"] == "127.0.0.1" and os.path.exists(os.path.join(state, "pvesim.pid"))
    r = requests.get(conn["url"] + "/api2/json/nodes", verify=conn["ca_path"],
                     headers={"Authorization": "PVEAPIToken=%s=%s" % (conn["token_id"], conn["token_secret"])})
    assert [n["node"] for n in r.json()["data"]] == ["pve1", "pve2"]
    out = subprocess.run(exe + ["stop", "--state-dir", state], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert not os.path.exists(os.path.join(state, "pvesim.pid"))
