"""Fault injection, locks, request log and counters."""

import pytest
import requests


def test_request_log_and_counters(pvesim, api):
    api.create_vm(100, cipassword="topsecret")
    api.get("/nodes/pve1/qemu/100/config")
    requests.post(pvesim.url + "/api2/json/access/ticket", data={"username": "root@pam", "password": "pvesim"},
                  verify=pvesim.ca_path)
    log = pvesim.requests()
    create = [e for e in log if e["method"] == "POST" and e["path"] == "/nodes/pve1/qemu"][0]
    assert create["params"]["cipassword"] == "**********" and create["params"]["vmid"] == "100"
    assert create["status"] == 200 and create["user"] == "root@pam!pvesim" and create["duration_ms"] >= 0
    login = [e for e in log if e["path"] == "/access/ticket"][0]
    assert login["params"]["password"] == "**********"
    c = pvesim.counters()
    assert c["logins"] == 1 and c["writes"] == 1 and c["reads"] >= 2 and c["seq"] == log[-1]["seq"]
    assert pvesim.requests(since=log[-2]["seq"]) == [log[-1]]
    pvesim.reset_log()
    assert pvesim.counters()["reads"] == 0
    with open(pvesim.state_dir + "/requests.jsonl") as fh:
        assert "topsecret" not in fh.read()


def test_status_fault(pvesim, api):
    pvesim.fault(path="^/version$", kind="status", status=503, message="Service Unavailable", count=2)
    assert api.get("/version").status_code == 503
    r = api.get("/version")
    assert r.status_code == 503 and r.reason == "Service Unavailable"
    assert api.get("/version").status_code == 200


def test_html_502(pvesim, api):
    pvesim.fault(path="/nodes$", kind="status", status=502, html=True)
    r = api.get("/nodes")
    assert r.status_code == 502 and r.headers["Content-Type"] == "text/html" and b"<h1>502 Bad Gateway</h1>" in r.content


def test_reset_fault(pvesim, api):
    pvesim.fault(path="/nodes$", kind="reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("/nodes")
    assert api.get("/nodes").status_code == 200


def test_lost_response_commits(pvesim, api):
    pvesim.fault(path="^/nodes/pve1/qemu$", method="POST", kind="lost_response")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.post("/nodes/pve1/qemu", data={"vmid": 100, "scsi0": "local-lvm:1"})
    # the request was processed: the VM exists, a retry sees the conflict
    assert api.get("/nodes/pve1/qemu/100/config").status_code == 200
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100})
    assert r.status_code == 500 and "already exists" in r.reason


def test_status_after_commits(pvesim, api):
    pvesim.fault(path="^/nodes/pve1/qemu$", method="POST", kind="status", status=502, after=True)
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "scsi0": "local-lvm:1"})
    assert r.status_code == 502 and r.reason == "Bad Gateway"
    # the proxy gave up, the node went on: the VM exists
    assert api.get("/nodes/pve1/qemu/100/config").status_code == 200
    assert [e["status"] for e in pvesim.requests() if e["method"] == "POST"] == [502]


def test_faults_after_a_refusal_are_kept(pvesim, api):
    pvesim.fault(path="^/nodes$", kind="status", status=502, count=1)
    pvesim.fault(path="^/nodes$", kind="reset", count=1)
    assert api.get("/nodes").status_code == 502
    # the reset did not take effect on that call, so it is still there for the next one
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("/nodes")
    assert api.get("/nodes").status_code == 200


def test_latency_and_rate(pvesim, api):
    import time
    pvesim.fault(path="^/version$", kind="latency", ms=200)
    t = time.time()
    api.get("/version")
    assert time.time() - t >= 0.2
    pvesim.fault(path="^/version$", kind="status", status=500, rate=0.0, count=None)
    assert all(api.get("/version").status_code == 200 for _ in range(5))
    assert len(pvesim.admin("GET", "faults")) == 1
    pvesim.clear_faults()
    assert pvesim.admin("GET", "faults") == []


def test_task_fail(pvesim, api):
    api.create_vm(100)
    pvesim.fault(kind="task_fail", task_type="qmclone", message="clone failed: simulated I/O error")
    upid = api.run("POST", "/nodes/pve1/qemu/100/clone", data={"newid": 101},
                   expect="clone failed: simulated I/O error")
    assert api.log(upid)[-1]["t"] == "TASK ERROR: clone failed: simulated I/O error"
    assert api.get("/nodes/pve1/qemu/101/config").status_code == 500
    api.run("POST", "/nodes/pve1/qemu/100/clone", data={"newid": 101})


def test_task_warn(pvesim, api):
    api.create_vm(100)
    pvesim.fault(kind="task_warn", task_type="qmstart", message="simulated warning")
    upid = api.run("POST", "/nodes/pve1/qemu/100/status/start", expect="WARNINGS: 1")
    lines = [entry["t"] for entry in api.log(upid)]
    assert "WARN: simulated warning" in lines and lines[-1] == "TASK WARNINGS: 1"
    assert api.ok("GET", "/nodes/pve1/qemu/100/status/current")["status"] == "running"


def test_lock_fault(pvesim, api):
    api.create_vm(100)
    pvesim.fault(kind="lock", vmid=100, lock="backup", seconds=30)
    assert api.ok("GET", "/nodes/pve1/qemu/100/config")["lock"] == "backup"
    r = api.put("/nodes/pve1/qemu/100/config", data={"cores": 3})
    assert r.status_code == 500 and r.reason == "VM is locked (backup)"
    api.run("POST", "/nodes/pve1/qemu/100/status/start", expect="VM is locked (backup)")
    # qemu-server checks the lock inside the destroy worker
    api.run("DELETE", "/nodes/pve1/qemu/100", expect="VM is locked (backup)")
    # skiplock is root only; root may use it
    assert api.put("/nodes/pve1/qemu/100/config", data={"cores": 3, "skiplock": 1}).status_code == 200
    pvesim.advance(31)
    assert "lock" not in api.ok("GET", "/nodes/pve1/qemu/100/config")


def test_lock_timeout_fault(pvesim, api):
    api.create_vm(100)
    pvesim.fault(path="/qemu/100/config$", kind="lock_timeout")
    r = api.put("/nodes/pve1/qemu/100/config", data={"cores": 3})
    assert r.status_code == 500 and r.reason == "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
    assert api.put("/nodes/pve1/qemu/100/config", data={"cores": 3}).status_code == 200


def test_flock_contention(pvesim, api):
    api.create_vm(100)
    pvesim.app.cluster.clock.time_scale = 10.0
    try:
        api.ok("POST", "/nodes/pve1/qemu/100/status/start")
        r = api.put("/nodes/pve1/qemu/100/config", data={"cores": 3})
        assert r.status_code == 500 and r.reason == "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
    finally:
        pvesim.app.cluster.clock.time_scale = 0.0
        pvesim.advance(100)


def test_node_offline(pvesim, api):
    api.create_vm(100, node="pve2")
    pvesim.fault(kind="node_offline", node="pve2")
    r = api.get("/nodes/pve2/qemu/100/config")
    assert r.status_code == 595 and r.reason == "No route to host"
    nodes = {n["node"]: n for n in api.ok("GET", "/nodes")}
    assert nodes["pve2"]["status"] == "offline"
    res = {x["id"]: x for x in api.ok("GET", "/cluster/resources")}
    assert res["qemu/100"]["status"] == "unknown"
    pvesim.clear_faults()
    assert api.get("/nodes/pve2/qemu/100/config").status_code == 200


def test_unknown_node(api):
    r = api.get("/nodes/nosuch/qemu")
    assert r.status_code == 500
    assert r.reason == "hostname lookup 'nosuch' failed - failed to get address info for: nosuch: Name or service not known"


def test_storage_full(pvesim, api):
    pvesim.fault(kind="storage_full", storage="local-lvm")
    upid = api.ok("POST", "/nodes/pve1/qemu", data={"vmid": 100, "scsi0": "local-lvm:8"})
    st = api.task(upid)
    assert st["exitstatus"].startswith("lvcreate") and "Insufficient free space" in st["exitstatus"]
    assert api.get("/nodes/pve1/qemu/100/config").status_code == 500
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "scsi0": "local-lvm:100000"})
    assert api.task(r.json()["data"])["exitstatus"] != "OK"


def test_state_save_load_and_scenario(pvesim, api, tmp_path):
    api.create_vm(100)
    path = str(tmp_path / "s.json")
    pvesim.admin("POST", "state/save", {"path": path})
    pvesim.reset_state()
    assert api.get("/nodes/pve1/qemu/100/config").status_code == 500
    pvesim.admin("POST", "state/load", {"path": path})
    assert api.ok("GET", "/nodes/pve1/qemu/100/config")["name"] == "vm100"
    pvesim.load_scenario({
        "nodes": [{"name": "pve1"}, {"name": "pve2", "status": "offline"}],
        "storages": [{"id": "local", "type": "dir", "content": "iso,vztmpl,import"},
                     {"id": "ceph", "type": "rbd", "content": ["images", "rootdir"], "shared": 1, "total": 10 ** 12}],
        "users": [{"userid": "ops@pve", "password": "opspass1", "tokens": [{"id": "ci", "secret": "abc-123", "privsep": 1}]}],
        "acls": [{"path": "/", "roles": ["PVEAuditor"], "tokens": ["ops@pve!ci"]},
                 {"path": "/", "roles": ["PVEAuditor"], "users": ["ops@pve"]}],
        "pools": [{"poolid": "prod"}],
        "guests": [{"type": "qemu", "vmid": 200, "node": "pve1", "name": "web", "status": "running",
                    "config": {"memory": 1024, "scsi0": "ceph:10", "net0": "virtio,bridge=vmbr0", "agent": 1},
                    "pool": "prod"},
                   {"type": "lxc", "vmid": 201, "node": "pve1", "name": "ct", "template": 1,
                    "config": {"rootfs": "ceph:4", "net0": "name=eth0,bridge=vmbr0,ip=dhcp"}}],
        "content": [{"volid": "local:iso/extra.iso", "size": 1000}],
    })
    res = {x["id"]: x for x in api.ok("GET", "/cluster/resources")}
    assert res["qemu/200"]["status"] == "running" and res["qemu/200"]["pool"] == "prod"
    assert res["lxc/201"]["template"] == 1 and res["node/pve2"]["status"] == "offline"
    assert "storage/pve1/ceph" in res
    tok = {"Authorization": "PVEAPIToken=ops@pve!ci=abc-123"}
    assert requests.get(pvesim.url + "/api2/json/nodes/pve1/qemu/200/config", headers=tok,
                        verify=pvesim.ca_path).status_code == 200
    r = requests.post(pvesim.url + "/api2/json/nodes/pve1/qemu/200/status/stop", headers=tok, verify=pvesim.ca_path)
    assert r.status_code == 403
    content = api.ok("GET", "/nodes/pve1/storage/local/content", params={"content": "iso"})
    assert "local:iso/extra.iso" in [c["volid"] for c in content]
