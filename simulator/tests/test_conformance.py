"""Conformance with pve-api.md 2.4-2.7 and the PVE sources it cites (Tasks.pm, qemu-server API2/Qemu.pm)."""

import pytest
import requests

from conftest import Api


@pytest.fixture
def ticket_api(pvesim):
    d = requests.post(pvesim.url + "/api2/json/access/ticket", data={"username": "root@pam", "password": "pvesim"},
                      verify=pvesim.ca_path).json()["data"]
    return Api(pvesim, headers={"CSRFPreventionToken": d["CSRFPreventionToken"]}, cookies={"PVEAuthCookie": d["ticket"]})


@pytest.fixture
def slow(pvesim):
    """Real-time virtual clock, so that tasks stay running until advanced."""
    pvesim.app.cluster.clock.time_scale = 1.0
    yield pvesim
    pvesim.app.cluster.clock.time_scale = 0.0
    pvesim.advance(1000)


# --- tasks (2.4, Tasks.pm) -------------------------------------------------------------------------------------

def test_task_status_splits_token_owner(api, ticket_api):
    upid = api.create_vm(100)
    st = api.task(upid)
    assert st["user"] == "root@pam" and st["tokenid"] == "pvesim" and upid.endswith(":root@pam!pvesim:")
    upid = ticket_api.run("POST", "/nodes/pve1/qemu/100/status/start")
    st = ticket_api.task(upid)
    assert st["user"] == "root@pam" and "tokenid" not in st
    item = api.ok("GET", "/nodes/pve1/tasks", params={"typefilter": "qmcreate"})[0]
    assert item["user"] == "root@pam" and item["tokenid"] == "pvesim" and item["status"] == "OK"
    assert isinstance(item["pid"], int) and isinstance(item["endtime"], int)


def test_task_list_sources(pvesim, api):
    api.create_vm(100)
    pvesim.app.cluster.clock.time_scale = 1.0
    slow = pvesim
    upid = api.ok("POST", "/nodes/pve1/qemu/100/status/start")
    # default source 'archive' lists finished tasks only
    assert [t["type"] for t in api.ok("GET", "/nodes/pve1/tasks")] == ["qmcreate"]
    active = api.get("/nodes/pve1/tasks", params={"source": "active"}).json()
    assert [t["upid"] for t in active["data"]] == [upid] and active["total"] == 1
    assert active["data"][0]["status"] == "RUNNING" and "endtime" not in active["data"][0]
    assert [t["type"] for t in api.ok("GET", "/nodes/pve1/tasks", params={"source": "all"})] == ["qmstart", "qmcreate"]
    # a running task has no status yet: upid_normalize_status_type says 'unknown'
    assert api.ok("GET", "/nodes/pve1/tasks", params={"source": "all", "statusfilter": "unknown"})[0]["upid"] == upid
    slow.advance(60)
    pvesim.app.cluster.clock.time_scale = 0.0
    assert api.ok("GET", "/nodes/pve1/tasks", params={"source": "active"}) == []


def test_task_list_filters(pvesim, api):
    api.create_vm(100)
    api.create_vm(101)
    pvesim.fault(kind="task_fail", task_type="qmstart", message="boom")
    api.run("POST", "/nodes/pve1/qemu/100/status/start", expect="boom")
    pvesim.fault(kind="task_warn", task_type="qmstart", message="careful")
    api.run("POST", "/nodes/pve1/qemu/101/status/start", expect="WARNINGS: 1")

    def lst(**p):
        return api.get("/nodes/pve1/tasks", params=p).json()
    assert [t["type"] for t in lst(vmid=100)["data"]] == ["qmstart", "qmcreate"]
    assert [t["id"] for t in lst(typefilter="qmstart")["data"]] == ["101", "100"]
    # errors=1 only drops OK tasks: warnings stay (Tasks.pm sets statusfilter ok=0)
    assert [t["status"] for t in lst(errors=1)["data"]] == ["WARNINGS: 1", "boom"]
    assert [t["status"] for t in lst(statusfilter="warning")["data"]] == ["WARNINGS: 1"]
    assert [t["status"] for t in lst(statusfilter="ok,error")["data"]] == ["boom", "OK", "OK"]
    assert lst(userfilter="ROOT@PAM")["total"] == 4 and lst(userfilter="nobody")["total"] == 0
    page = lst(start=1, limit=2)
    assert page["total"] == 4 and [t["id"] for t in page["data"]] == ["100", "101"]


def test_task_log_format(slow, api):
    upid = api.ok("POST", "/nodes/pve1/qemu", data={"vmid": 100})
    r = api.get("/nodes/pve1/tasks/%s/log" % upid).json()
    assert r == {"data": [{"n": 1, "t": "no content"}], "total": 1}
    slow.advance(60)
    r = api.get("/nodes/pve1/tasks/%s/log" % upid, params={"start": 0, "limit": 0}).json()
    assert r["data"][-1] == {"n": r["total"], "t": "TASK OK"}
    r = api.get("/nodes/pve1/tasks/%s/log" % upid, params={"start": 5}).json()
    assert r["data"] == [] and r["total"] == 1
    r = api.get("/nodes/pve1/tasks/%s/log" % upid, params={"download": 1, "start": 0})
    assert r.status_code == 500 and r.reason == "'download' cannot be used together with 'start' or 'limit' parameters"


# --- config update (2.6, 2.7, qemu-server update_vm_api) -----------------------------------------------------

def test_delete_revert_messages(api):
    api.create_vm(100)
    cfg = "/nodes/pve1/qemu/100/config"
    r = api.put(cfg, data={"revert": "foo"})
    assert r.status_code == 400 and r.json()["errors"] == {"revert": "unknown option 'foo'"}
    r = api.put(cfg, data={"revert": "cores", "cores": 3})
    assert r.json()["errors"] == {"delete": "you can't use '-cores' and -revert cores' at the same time"}
    r = api.put(cfg, data={"revert": "cores", "delete": "cores"})
    assert r.json()["errors"] == {"revert": "you can't use '-delete cores' and -revert cores' at the same time"}
    # conflicts are reported before unknown keys
    r = api.put(cfg, data={"delete": "foo,cores", "cores": 3})
    assert r.json()["errors"] == {"delete": "unknown option 'foo'"}


def test_delete_unset_key_warns(api):
    api.create_vm(100)
    upid = api.run("POST", "/nodes/pve1/qemu/100/config", data={"delete": "description", "cores": 4},
                   expect="WARNINGS: 1")
    lines = [x["t"] for x in api.log(upid)]
    assert lines[0] == "update VM 100: -cores 4 -delete description"
    assert "WARN: cannot delete 'description' - not set in current configuration!" in lines
    assert lines[-1] == "TASK WARNINGS: 1"
    assert api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"delete": "description"}) is None


def test_pending_cleanup_digest_row_and_balloon(api):
    api.create_vm(100, balloon=1024)
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    cfg = api.ok("GET", "/nodes/pve1/qemu/100/config")
    api.run("POST", "/nodes/pve1/qemu/100/config", data={"memory": 2048, "cores": 2})
    pend = api.ok("GET", "/nodes/pve1/qemu/100/pending")
    assert not [e for e in pend if "pending" in e or "delete" in e]  # equal values do not stay pending
    assert {"key": "digest", "value": cfg["digest"]} in pend
    r = api.post("/nodes/pve1/qemu/100/config", data={"memory": 512})
    assert r.status_code == 500 and r.reason == "balloon value too large (must be smaller than assigned memory)"


def test_tags_are_normalised(api):
    api.create_vm(100)
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"tags": "web,db;web Db"})
    assert api.ok("GET", "/nodes/pve1/qemu/100/config")["tags"] == "web;db"


# --- template, clone, power, snapshots (2.4, 2.5, qemu-server API2/Qemu.pm) -------------------------------

def test_template_checks_in_pve_order(pvesim, api):
    api.create_vm(100)
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "s1"})
    r = api.post("/nodes/pve1/qemu/100/template")
    assert r.status_code == 500 and r.reason == "unable to create template, because VM contains snapshots"
    pvesim.fault(kind="lock", vmid=100, lock="backup", seconds=30)
    r = api.post("/nodes/pve1/qemu/100/template")
    assert r.status_code == 500 and r.reason == "VM is locked (backup)"


def test_clone_rules(api):
    smbios1 = "uuid=0b8a9a4e-3f6c-4c2e-9a64-3c1d9b2e7f10,manufacturer=QUNNRQ==,base64=1"
    api.run("POST", "/nodes/pve1/qemu", data={"vmid": 100, "scsi0": "shared:1", "smbios1": smbios1})
    r = api.post("/nodes/pve1/qemu/100/clone", data={"newid": 101, "storage": "local"})
    assert r.status_code == 400 and r.json()["errors"] == {"storage": "storage 'local' does not support vm images"}
    api.run("POST", "/nodes/pve1/qemu/100/clone", data={"newid": 101})
    c = api.ok("GET", "/nodes/pve1/qemu/101/config")
    assert c["name"] == "Copy-of-VM-100"
    assert "manufacturer=QUNNRQ==" in c["smbios1"] and "0b8a9a4e-3f6c-4c2e-9a64-3c1d9b2e7f10" not in c["smbios1"]
    # an ISO on local storage makes the VM 'not shared' for a clone to another node
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"ide2": "local:iso/debian-13.iso,media=cdrom"})
    r = api.post("/nodes/pve1/qemu/100/clone", data={"newid": 102, "target": "pve2"})
    assert r.status_code == 500 and r.reason == "can't clone VM to node 'pve2' (VM uses local storage)"


def test_reboot_paused_and_resume_from_disk(api):
    api.create_vm(100)
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    api.run("POST", "/nodes/pve1/qemu/100/status/suspend")
    r = api.post("/nodes/pve1/qemu/100/status/reboot")
    assert r.status_code == 500 and r.reason == "VM is paused - cannot shutdown"
    api.run("POST", "/nodes/pve1/qemu/100/status/resume")
    api.run("POST", "/nodes/pve1/qemu/100/status/suspend", data={"todisk": 1})
    st = api.ok("GET", "/nodes/pve1/qemu/100/status/current")
    assert st["status"] == "stopped" and st["lock"] == "suspended"
    # vm_resume of a VM suspended to disk starts it (no 'not running' error, the lock does not block)
    api.run("POST", "/nodes/pve1/qemu/100/status/resume")
    st = api.ok("GET", "/nodes/pve1/qemu/100/status/current")
    assert st["status"] == "running" and "lock" not in st


def test_snapshot_rules(api):
    api.create_vm(100)
    for name in ("current", "Pending"):
        r = api.post("/nodes/pve1/qemu/100/snapshot", data={"snapname": name})
        assert r.status_code == 500 and r.reason == "unable to use snapshot name '%s' (reserved name)" % name.lower()
    api.run("POST", "/nodes/pve1/qemu/100/snapshot/nope/rollback", expect="snapshot 'nope' does not exist")
    api.run("DELETE", "/nodes/pve1/qemu/100/snapshot/nope", expect="snapshot 'nope' does not exist")
    assert api.ok("GET", "/nodes/pve1/qemu/100/snapshot/nope") == [{"cmd": "rollback"}, {"cmd": "config"}]
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "s1"})
    snaps = api.ok("GET", "/nodes/pve1/qemu/100/snapshot")
    assert snaps[0]["vmstate"] == 0 and snaps[0]["description"] == "" and isinstance(snaps[0]["snaptime"], int)
    conf = api.ok("GET", "/nodes/pve1/qemu/100/snapshot/s1/config")
    assert "digest" not in conf and conf["snaptime"] == snaps[0]["snaptime"]
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"template": 1})
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "s2"},
            expect="you can't take a snapshot if it's a template")


def test_config_current_and_snapshot_conflict(api):
    api.create_vm(100)
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "s1"})
    r = api.get("/nodes/pve1/qemu/100/config", params={"current": 1, "snapshot": "s1"})
    msg = "cannot use 'snapshot' parameter with 'current'"
    assert r.status_code == 400 and r.json()["errors"] == {"snapshot": msg, "current": msg}


def test_suspend_to_disk_vmstate_lifecycle(api):
    api.create_vm(100)
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    api.run("POST", "/nodes/pve1/qemu/100/status/suspend", data={"todisk": 1})
    conf = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert conf["lock"] == "suspended" and conf["vmstate"].startswith("local-lvm:vm-100-state-suspend-")
    vols = [v["volid"] for v in api.ok("GET", "/nodes/pve1/storage/local-lvm/content")]
    assert conf["vmstate"] in vols
    r = api.put("/nodes/pve1/qemu/100/config", data={"cores": 4})
    assert r.status_code == 500 and r.reason == "VM is locked (suspended)"
    # deleting vmstate discards the saved state and clears the 'suspended' lock (update_vm_api)
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"delete": "vmstate"})
    conf = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert "lock" not in conf and "vmstate" not in conf
    assert not [v for v in api.ok("GET", "/nodes/pve1/storage/local-lvm/content") if "state-suspend" in v["volid"]]


def test_ha_managed_power_refusals(api):
    api.create_vm(100)
    api.ok("POST", "/cluster/ha/resources", data={"sid": "vm:100", "state": "stopped"})
    upid = api.run("POST", "/nodes/pve1/qemu/100/status/start")
    assert upid.split(":")[5] == "hastart"
    r = api.post("/nodes/pve1/qemu/100/status/suspend", data={"todisk": 1})
    assert r.status_code == 500 and r.reason == "Cannot suspend HA managed VM to disk"
    r = api.post("/nodes/pve1/qemu/100/status/stop", data={"overrule-shutdown": 1})
    assert r.status_code == 400 and r.json()["errors"] == {"overrule-shutdown": "Not applicable for HA resources."}


def test_migrate_checks(pvesim, api):
    api.create_vm(100)
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    pvesim.fault(kind="lock", vmid=100, lock="backup", seconds=30)
    r = api.post("/nodes/pve1/qemu/100/migrate", data={"target": "pve2"})
    assert r.status_code == 500 and r.reason == "VM is locked (backup)"  # lock before 'running without --online'
    pvesim.clear_faults()
    # local disks on a live migration are found by QemuMigrate inside the worker
    upid = api.run("POST", "/nodes/pve1/qemu/100/migrate", data={"target": "pve2", "online": 1}, expect="migration aborted")
    lines = [x["t"] for x in api.log(upid)]
    assert lines[-2:] == ["ERROR: migration aborted (duration 00:00:00): can't live migrate attached local disks without "
                          "with-local-disks option", "TASK ERROR: migration aborted"]
    assert api.ok("GET", "/nodes/pve1/qemu/100/status/current")["status"] == "running"


def test_qemu_list_qmp_fields_need_full(api):
    api.create_vm(100)
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    plain = api.ok("GET", "/nodes/pve1/qemu")[0]
    assert "qmpstatus" not in plain and "running-qemu" not in plain and plain["status"] == "running"
    full = api.ok("GET", "/nodes/pve1/qemu", params={"full": 1})[0]
    assert full["qmpstatus"] == "running" and "running-machine" in full
