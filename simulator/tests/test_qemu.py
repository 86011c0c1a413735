"""QEMU lifecycle: create, config/digest/pending, power rules, clone/template, resize, snapshots, migrate, destroy."""

import re

import pytest

UPID_RE = re.compile(r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
                     r"([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$")


def test_create_disks_net_cloudinit(api):
    upid = api.create_vm(100, scsi0="local-lvm:32,discard=on", ide2="local-lvm:cloudinit", efidisk0="local-lvm:1",
                         scsi1="local-lvm:0,import-from=local:import/debian-13-genericcloud-amd64.qcow2",
                         virtio0="shared:4", net1="e1000,bridge=vmbr1,firewall=1")
    assert UPID_RE.match(upid) and upid.split(":")[5:8] == ["qmcreate", "100", "root@pam!pvesim"]
    c = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert re.match(r"^local-lvm:vm-100-disk-\d,discard=on,size=32G$", c["scsi0"])
    assert c["ide2"] == "local-lvm:vm-100-cloudinit,media=cdrom"
    assert re.match(r"^local-lvm:vm-100-disk-\d,size=4M$", c["efidisk0"])
    assert re.match(r"^local-lvm:vm-100-disk-\d,size=3G$", c["scsi1"])
    assert re.match(r"^shared:100/vm-100-disk-\d\.qcow2,size=4G$", c["virtio0"])
    assert re.match(r"^virtio=BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2},bridge=vmbr0$", c["net0"])
    assert re.match(r"^e1000=BC:24:11:[0-9A-F:]{8},bridge=vmbr1,firewall=1$", c["net1"])
    assert "lock" not in c
    log = api.log(upid)
    assert log[-1]["t"] == "TASK OK" and log[0]["n"] == 1


def test_create_existing_and_storage_errors(api):
    api.create_vm(100)
    r = api.post("/nodes/pve2/qemu", data={"vmid": 100})
    assert r.status_code == 500 and r.reason == "unable to create VM 100 - VM 100 already exists on node 'pve1'"
    r = api.post("/nodes/pve1/qemu", data={"vmid": 101, "scsi0": "local:0,import-from=local:iso/none.qcow2"})
    assert r.status_code in (200, 500)
    r = api.post("/nodes/pve1/qemu", data={"vmid": 102, "scsi0": "nosuch:8"})
    assert r.status_code == 500 and r.reason == "storage 'nosuch' does not exist"


def test_lock_create_visible_while_running(pvesim, api):
    pvesim.app.cluster.clock.time_scale = 1.0
    try:
        upid = api.ok("POST", "/nodes/pve1/qemu", data={"vmid": 100, "scsi0": "local-lvm:8"})
        assert api.task(upid)["status"] == "running"
        assert api.ok("GET", "/nodes/pve1/qemu/100/config")["lock"] == "create"
        assert "exitstatus" not in api.task(upid)
        pvesim.advance(60)
        st = api.task(upid)
        assert st["status"] == "stopped" and st["exitstatus"] == "OK"
        assert "lock" not in api.ok("GET", "/nodes/pve1/qemu/100/config")
    finally:
        pvesim.app.cluster.clock.time_scale = 0.0


def test_digest_and_delete(api):
    api.create_vm(100, scsi1="local-lvm:4", description="x")
    c = api.ok("GET", "/nodes/pve1/qemu/100/config")
    r = api.put("/nodes/pve1/qemu/100/config", data={"cores": 4, "digest": "0" * 40})
    assert r.status_code == 500 and r.reason == "checksum mismatch (file change by other user?)"
    assert api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"cores": 4, "digest": c["digest"]}) is None
    c2 = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert c2["cores"] == 4 and c2["digest"] != c["digest"]
    assert api.ok("GET", "/nodes/pve1/qemu/100/config")["digest"] == c2["digest"]
    r = api.put("/nodes/pve1/qemu/100/config", data={"delete": "foo"})
    assert r.status_code == 400 and r.json()["errors"] == {"delete": "unknown option 'foo'"}
    r = api.put("/nodes/pve1/qemu/100/config", data={"delete": "cores", "cores": 2})
    assert r.json()["errors"] == {"delete": "you can't use '-cores' and -delete cores' at the same time"}
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"delete": "description,scsi1"})
    c3 = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert "description" not in c3 and "scsi1" not in c3
    assert re.match(r"^local-lvm:vm-100-disk-\d$", c3["unused0"])
    r = api.put("/nodes/pve1/qemu/100/config", data={})
    assert r.status_code == 500 and r.reason == "no options specified"


def test_post_config_is_task(api):
    api.create_vm(100)
    upid = api.run("POST", "/nodes/pve1/qemu/100/config", data={"scsi1": "local-lvm:2"})
    assert upid.split(":")[5] == "qmconfig"
    assert "size=2G" in api.ok("GET", "/nodes/pve1/qemu/100/config")["scsi1"]


def test_pending_on_running_vm(api):
    api.create_vm(100, ciuser="old")
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    api.run("POST", "/nodes/pve1/qemu/100/config",
            data={"memory": 4096, "name": "new", "cipassword": "s3cret", "delete": "ciuser"})
    # cloud-init options are on qemu-server's fast-plug list: set and deleted at once, never pending
    cur = api.ok("GET", "/nodes/pve1/qemu/100/config", params={"current": 1})
    assert cur["memory"] == "2048" and cur["name"] == "new" and "ciuser" not in cur
    eff = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert eff["memory"] == "4096" and eff["cipassword"] == "**********" and "ciuser" not in eff
    pend = {p["key"]: p for p in api.ok("GET", "/nodes/pve1/qemu/100/pending")}
    assert pend["memory"] == {"key": "memory", "value": "2048", "pending": "4096"}
    assert pend["cipassword"] == {"key": "cipassword", "value": "**********"}
    assert "ciuser" not in pend
    api.run("POST", "/nodes/pve1/qemu/100/config", data={"ipconfig0": "ip=10.0.0.9/24,gw=10.0.0.1"})
    assert api.ok("GET", "/nodes/pve1/qemu/100/config", params={"current": 1})["ipconfig0"] == "ip=10.0.0.9/24,gw=10.0.0.1"
    # memory hotplug enabled: applied at once
    api.run("POST", "/nodes/pve1/qemu/100/config", data={"revert": "memory"})
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"hotplug": "network,disk,memory"})
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"memory": 3072})
    # hotplug itself is not hot-pluggable -> still pending, so memory goes pending too
    assert api.ok("GET", "/nodes/pve1/qemu/100/config", params={"current": 1})["memory"] == "2048"
    api.run("POST", "/nodes/pve1/qemu/100/status/reboot")
    api.run("POST", "/nodes/pve1/qemu/100/status/stop")
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    cur = api.ok("GET", "/nodes/pve1/qemu/100/config", params={"current": 1})
    assert cur["memory"] == "3072" and "ciuser" not in cur
    assert api.ok("GET", "/nodes/pve1/qemu/100/pending")[0].get("pending") is None


def test_power_rules(api):
    api.create_vm(100)
    # stop/shutdown of a stopped VM: task OK no-op
    api.run("POST", "/nodes/pve1/qemu/100/status/stop")
    api.run("POST", "/nodes/pve1/qemu/100/status/shutdown")
    for action in ("reset", "reboot", "suspend"):
        r = api.post("/nodes/pve1/qemu/100/status/" + action)
        assert r.status_code == 500 and r.reason == "VM 100 not running"
    upid = api.run("POST", "/nodes/pve1/qemu/100/status/start")
    assert upid.split(":")[5] == "qmstart"
    st = api.ok("GET", "/nodes/pve1/qemu/100/status/current")
    assert st["status"] == "running" and st["qmpstatus"] == "running" and st["ha"] == {"managed": 0}
    # start of a running VM: accepted, the task fails (qemu-server checks inside the worker)
    upid = api.run("POST", "/nodes/pve1/qemu/100/status/start", expect="VM 100 already running")
    assert api.log(upid)[-1]["t"] == "TASK ERROR: VM 100 already running"
    api.run("POST", "/nodes/pve1/qemu/100/status/suspend")
    r = api.post("/nodes/pve1/qemu/100/status/shutdown")
    assert r.status_code == 500 and r.reason == "VM is paused - cannot shutdown"
    api.run("POST", "/nodes/pve1/qemu/100/status/resume")
    api.run("POST", "/nodes/pve1/qemu/100/status/shutdown")
    assert api.ok("GET", "/nodes/pve1/qemu/100/status/current")["status"] == "stopped"


def test_destroy_rules(api):
    api.create_vm(100, protection=1)
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    # destroy_vm's early checks: protection, then HA, then running
    r = api.delete("/nodes/pve1/qemu/100")
    assert r.status_code == 500 and r.reason == "can't remove VM 100 - protection mode enabled"
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"delete": "protection"})
    r = api.delete("/nodes/pve1/qemu/100")
    assert r.status_code == 500 and r.reason == "VM 100 is running - destroy failed"
    api.run("POST", "/nodes/pve1/qemu/100/status/stop")
    upid = api.run("DELETE", "/nodes/pve1/qemu/100", params={"purge": 1, "destroy-unreferenced-disks": 1})
    assert upid.split(":")[5] == "qmdestroy"
    r = api.get("/nodes/pve1/qemu/100/config")
    assert r.status_code == 500 and r.reason == "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist"
    assert api.ok("GET", "/nodes/pve1/storage/local-lvm/content") == []


def test_clone_template_linked(api):
    api.create_vm(100, ide2="local-lvm:cloudinit")
    r = api.post("/nodes/pve1/qemu/100/clone", data={"newid": 101, "full": 0})
    assert r.status_code == 500 and re.match(r"^Linked clone feature is not supported for 'local-lvm:vm-100-disk-\d' \(scsi0\)$",
                                             r.reason), r.reason
    upid = api.run("POST", "/nodes/pve1/qemu/100/clone", data={"newid": 101, "name": "full1"})
    assert upid.split(":")[5:7] == ["qmclone", "100"]
    c = api.ok("GET", "/nodes/pve1/qemu/101/config")
    assert c["name"] == "full1" and c["scsi0"].startswith("local-lvm:vm-101-disk-")
    assert c["ide2"] == "local-lvm:vm-101-cloudinit,media=cdrom"
    src = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert c["net0"] != src["net0"]
    r = api.post("/nodes/pve1/qemu/100/clone", data={"newid": 101})
    assert r.status_code == 500 and r.reason == "unable to create VM 101: config file already exists"
    api.run("POST", "/nodes/pve1/qemu/100/template")
    t = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert t["template"] == 1 and t["scsi0"].startswith("local-lvm:base-100-disk-")
    r = api.post("/nodes/pve1/qemu/100/template")
    assert r.status_code == 500 and r.reason == "you can't convert a template to a template"
    r = api.post("/nodes/pve1/qemu/100/clone", data={"newid": 102, "storage": "local-lvm", "full": 0})
    assert r.status_code == 500 and r.reason == "parameter 'storage' not allowed for linked clones"
    api.run("POST", "/nodes/pve1/qemu/100/clone", data={"newid": 102})
    lc = api.ok("GET", "/nodes/pve1/qemu/102/config")
    assert re.match(r"^local-lvm:base-100-disk-(\d)/vm-102-disk-\1,size=8G$", lc["scsi0"]), lc["scsi0"]
    upid = api.run("POST", "/nodes/pve1/qemu/102/status/start")
    upid = api.run("POST", "/nodes/pve1/qemu/100/status/start", expect="you can't start a vm if it's a template")
    # clone to another node with local storage
    r = api.post("/nodes/pve1/qemu/101/clone", data={"newid": 103, "target": "pve2"})
    assert r.status_code == 500 and r.reason == "can't clone VM to node 'pve2' (VM uses local storage)"
    # a shared target storage does not help: check_storage_access_clone looks at the source volumes only
    r = api.post("/nodes/pve1/qemu/101/clone", data={"newid": 103, "target": "pve2", "storage": "shared"})
    assert r.status_code == 500 and r.reason == "can't clone VM to node 'pve2' (VM uses local storage)"
    api.create_vm(104, scsi0="shared:8")
    r = api.post("/nodes/pve1/qemu/104/clone", data={"newid": 103, "target": "pve2", "storage": "local-lvm"})
    assert r.status_code == 500 and r.reason == "can't clone to non-shared storage 'local-lvm'"
    api.run("POST", "/nodes/pve1/qemu/104/clone", data={"newid": 103, "target": "pve2"})
    c = api.ok("GET", "/nodes/pve2/qemu/103/config")
    assert re.match(r"^shared:103/vm-103-disk-\d\.(raw|qcow2),size=8G$", c["scsi0"]), c["scsi0"]


def test_clone_lock_while_running(pvesim, api):
    api.create_vm(100)
    pvesim.app.cluster.clock.time_scale = 1.0
    try:
        upid = api.ok("POST", "/nodes/pve1/qemu/100/clone", data={"newid": 101})
        assert api.ok("GET", "/nodes/pve1/qemu/101/config")["lock"] == "clone"
        res = {x["id"]: x for x in api.ok("GET", "/cluster/resources", params={"type": "vm"})}
        assert res["qemu/101"]["lock"] == "clone"
        pvesim.advance(120)
        assert api.task(upid)["exitstatus"] == "OK"
        assert "lock" not in api.ok("GET", "/nodes/pve1/qemu/101/config")
    finally:
        pvesim.app.cluster.clock.time_scale = 0.0


def test_resize(api):
    api.create_vm(100, ide2="local:iso/debian-13.iso,media=cdrom")
    upid = api.run("PUT", "/nodes/pve1/qemu/100/resize", data={"disk": "scsi0", "size": "+2G"})
    assert upid.split(":")[5] == "resize"
    assert api.ok("GET", "/nodes/pve1/qemu/100/config")["scsi0"].endswith("size=10G")
    api.run("PUT", "/nodes/pve1/qemu/100/resize", data={"disk": "scsi0", "size": "12G"})
    api.run("PUT", "/nodes/pve1/qemu/100/resize", data={"disk": "scsi0", "size": "4G"},
            expect="shrinking disks is not supported")
    api.run("PUT", "/nodes/pve1/qemu/100/resize", data={"disk": "scsi3", "size": "4G"},
            expect="disk 'scsi3' does not exist")
    api.run("PUT", "/nodes/pve1/qemu/100/resize", data={"disk": "ide2", "size": "4G"}, expect="you can't resize a cdrom")
    r = api.put("/nodes/pve1/qemu/100/resize", data={"disk": "net0", "size": "4G"})
    assert r.status_code == 400


def test_snapshots(api):
    api.create_vm(100)
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "s1", "description": "first"})
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"cores": 8})
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "s2"})
    snaps = api.ok("GET", "/nodes/pve1/qemu/100/snapshot")
    assert [s["name"] for s in snaps] == ["s1", "s2", "current"]
    assert snaps[-1]["description"] == "You are here!" and snaps[-1]["parent"] == "s2" and snaps[-1]["running"] == 0
    assert snaps[1]["parent"] == "s1"
    # snapshot_prepare runs in the worker
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "s1"}, expect="snapshot name 's1' already used")
    api.run("POST", "/nodes/pve1/qemu/100/snapshot/s1/rollback")
    c = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert c["cores"] == 2 and c["parent"] == "s1"
    assert api.ok("GET", "/nodes/pve1/qemu/100/snapshot/s1/config")["cores"] == 2
    api.run("DELETE", "/nodes/pve1/qemu/100/snapshot/s2")
    assert [s["name"] for s in api.ok("GET", "/nodes/pve1/qemu/100/snapshot")] == ["s1", "current"]


def test_migrate(api):
    api.create_vm(100)
    pre = api.ok("GET", "/nodes/pve1/qemu/100/migrate")
    assert pre["running"] == 0 and set(pre["allowed_nodes"]) == {"pve2", "pve3"}
    assert pre["local_disks"][0]["volid"].startswith("local-lvm:vm-100-disk-")
    r = api.post("/nodes/pve1/qemu/100/migrate", data={"target": "pve1"})
    assert r.status_code == 400 and r.json()["errors"] == {"target": "target is local node."}
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    r = api.post("/nodes/pve1/qemu/100/migrate", data={"target": "pve2"})
    assert r.status_code == 500 and r.reason == "can't migrate running VM without --online"
    upid = api.run("POST", "/nodes/pve1/qemu/100/migrate", data={"target": "pve2", "online": 1, "with-local-disks": 1})
    assert upid.split(":")[5] == "qmigrate"
    assert api.ok("GET", "/nodes/pve2/qemu/100/status/current")["status"] == "running"
    assert api.get("/nodes/pve1/qemu/100/config").status_code == 500
    # the task is only found on the node that ran it
    r = api.get("/nodes/pve2/tasks/%s/status" % upid)
    assert r.status_code == 400 and r.json()["errors"] == {"upid": "no such task"}


def test_agent(pvesim, api):
    api.create_vm(100, agent="1", ipconfig0="ip=10.1.2.3/24,gw=10.1.2.1", net1="virtio,bridge=vmbr0")
    api.create_vm(101)
    r = api.get("/nodes/pve1/qemu/101/agent/network-get-interfaces")
    assert r.status_code == 500 and r.reason == "No QEMU guest agent configured"
    r = api.get("/nodes/pve1/qemu/100/agent/network-get-interfaces")
    assert r.status_code == 500 and r.reason == "VM 100 is not running"
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    pvesim.admin("POST", "guests/100/agent", {"ready": False})
    r = api.get("/nodes/pve1/qemu/100/agent/network-get-interfaces")
    assert r.status_code == 500 and r.reason == "QEMU guest agent is not running"
    pvesim.admin("POST", "guests/100/agent", {"ready": True})
    res = api.ok("GET", "/nodes/pve1/qemu/100/agent/network-get-interfaces")["result"]
    eth = {i["name"]: i for i in res}
    assert eth["eth0"]["ip-addresses"][0] == {"ip-address": "10.1.2.3", "ip-address-type": "ipv4", "prefix": 24}
    assert eth["eth1"]["ip-addresses"][0]["ip-address"].startswith("192.168.100.")
    # Linux guests also report the EUI-64 link-local address of every NIC
    mac = eth["eth0"]["hardware-address"].lower().split(":")
    link_local = eth["eth0"]["ip-addresses"][-1]
    assert link_local["ip-address-type"] == "ipv6" and link_local["prefix"] == 64
    assert link_local["ip-address"].startswith("fe80::") and link_local["ip-address"].endswith(mac[4] + mac[5])


def test_unnamed_vm_is_listed_as_vm_space_vmid(api):
    api.run("POST", "/nodes/pve1/qemu", data={"vmid": 105})
    entry = [r for r in api.ok("GET", "/cluster/resources", params={"type": "vm"}) if r["vmid"] == 105][0]
    assert entry["name"] == "VM 105"


def test_scenario_guest_on_unknown_node_is_rejected(pvesim):
    with pytest.raises(Exception) as err:
        pvesim.load_scenario({"guests": [{"type": "qemu", "vmid": 300, "node": "nowhere", "name": "x"}]})
    assert "unknown node 'nowhere'" in str(err.value)


def test_agent_boot_delay_with_time_scale(pvesim, api):
    api.create_vm(100, agent="enabled=1")
    pvesim.app.cluster.clock.time_scale = 1.0
    try:
        upid = api.ok("POST", "/nodes/pve1/qemu/100/status/start")
        pvesim.advance(5)
        assert api.task(upid)["exitstatus"] == "OK"
        r = api.get("/nodes/pve1/qemu/100/agent/network-get-interfaces")
        assert r.status_code == 500 and r.reason == "QEMU guest agent is not running"
        pvesim.advance(30)
        assert api.get("/nodes/pve1/qemu/100/agent/network-get-interfaces").status_code == 200
    finally:
        pvesim.app.cluster.clock.time_scale = 0.0


def test_lists_and_resources(api):
    api.ok("POST", "/pools", data={"poolid": "prod", "comment": "p"})
    api.create_vm(100, tags="web;prod", pool="prod")
    api.create_vm(101, node="pve2")
    api.run("POST", "/nodes/pve1/qemu/100/template")
    res = api.ok("GET", "/cluster/resources")
    ids = {x["id"]: x for x in res}
    assert {"node/pve1", "qemu/100", "qemu/101", "storage/pve1/local", "storage/pve2/shared", "/pool/prod"} <= set(ids)
    q = ids["qemu/100"]
    assert q["template"] == 1 and q["tags"] == "web;prod" and q["pool"] == "prod" and q["maxdisk"] == 8 * 1024 ** 3
    assert q["maxmem"] == 2048 * 1024 ** 2 and q["maxcpu"] == 2 and q["node"] == "pve1" and q["name"] == "vm100"
    assert all(x["type"] in ("qemu", "lxc") for x in api.ok("GET", "/cluster/resources", params={"type": "vm"}))
    assert [x["vmid"] for x in api.ok("GET", "/nodes/pve2/qemu")] == [101]
    pools = api.ok("GET", "/pools", params={"poolid": "prod"})
    assert pools[0]["members"][0]["vmid"] == 100
    r = api.delete("/pools", params={"poolid": "prod"})
    assert r.status_code == 500 and r.reason == "pool 'prod' is not empty (contains VM 100)"
    st = api.ok("GET", "/cluster/status")
    assert st[0]["type"] == "cluster" and len(st) == 4
    nodes = api.ok("GET", "/nodes")
    assert {n["node"] for n in nodes} == {"pve1", "pve2", "pve3"} and nodes[0]["status"] == "online"


def test_disk_numbering_follows_drive_order(api):
    api.create_vm(100, efidisk0="local-lvm:1", tpmstate0="local-lvm:1", scsi1="local-lvm:2", virtio0="local-lvm:2",
                  sata0="local-lvm:2")
    c = api.ok("GET", "/nodes/pve1/qemu/100/config")
    names = {k: c[k].split(",")[0] for k in ("sata0", "scsi0", "scsi1", "virtio0", "efidisk0", "tpmstate0")}
    assert names == {"sata0": "local-lvm:vm-100-disk-0", "scsi0": "local-lvm:vm-100-disk-1",
                     "scsi1": "local-lvm:vm-100-disk-2", "virtio0": "local-lvm:vm-100-disk-3",
                     "efidisk0": "local-lvm:vm-100-disk-4", "tpmstate0": "local-lvm:vm-100-disk-5"}


def test_background_delay_and_unlock(pvesim, api):
    api.create_vm(100)
    assert api.ok("POST", "/nodes/pve1/qemu/100/config", data={"cores": 3, "background_delay": 5}) is None
    pvesim.fault(kind="task_fail", task_type="qmconfig", message="hotplug problem")
    r = api.post("/nodes/pve1/qemu/100/config", data={"cores": 4, "background_delay": 5})
    assert r.status_code == 500 and r.reason == "failed to update VM 100: hotplug problem"
    pvesim.fault(kind="lock", vmid=100, lock="migrate")
    r = api.put("/nodes/pve1/qemu/100/config", data={"delete": "lock"})
    assert r.status_code == 500 and r.reason == "VM is locked (migrate)"
    r = api.put("/nodes/pve1/qemu/100/config", data={"delete": "lock", "skiplock": 1})
    assert r.status_code == 200  # root clears a stale lock (the API form of qm unlock)
    assert "lock" not in api.ok("GET", "/nodes/pve1/qemu/100/config")


def test_cloudinit_pending_and_regenerate(api):
    api.create_vm(100, ide2="local-lvm:cloudinit", ciuser="old", ipconfig0="ip=dhcp")
    ci = {e["key"]: e for e in api.ok("GET", "/nodes/pve1/qemu/100/cloudinit")}
    assert ci["ciuser"] == {"key": "ciuser", "value": "old"}
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    api.run("POST", "/nodes/pve1/qemu/100/config", data={"ciuser": "deploy", "sshkeys": "ssh-ed25519%20AAAA%20x"})
    ci = {e["key"]: e for e in api.ok("GET", "/nodes/pve1/qemu/100/cloudinit")}
    assert ci["ciuser"] == {"key": "ciuser", "value": "old", "pending": "deploy"}
    assert ci["sshkeys"] == {"key": "sshkeys", "pending": "ssh-ed25519%20AAAA%20x"}
    assert api.ok("PUT", "/nodes/pve1/qemu/100/cloudinit") is None
    ci = {e["key"]: e for e in api.ok("GET", "/nodes/pve1/qemu/100/cloudinit")}
    assert ci["ciuser"] == {"key": "ciuser", "value": "deploy"}
    assert api.ok("GET", "/nodes/pve1/qemu/100/config", params={"current": 1})["ciuser"] == "deploy"
    user = api.ok("GET", "/nodes/pve1/qemu/100/cloudinit/dump", params={"type": "user"})
    assert "user: deploy" in user and "  - ssh-ed25519 AAAA x" in user


def test_move_disk(api):
    api.create_vm(100)
    upid = api.run("POST", "/nodes/pve1/qemu/100/move_disk", data={"disk": "scsi0", "storage": "shared", "format": "qcow2"})
    assert upid.split(":")[5] == "qmmove"
    c = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert re.match(r"^shared:100/vm-100-disk-\d\.qcow2,size=8G$", c["scsi0"]) and c["unused0"].startswith("local-lvm:")
    api.run("POST", "/nodes/pve1/qemu/100/move_disk", data={"disk": "scsi0", "storage": "local-lvm", "delete": 1})
    c = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert c["scsi0"].startswith("local-lvm:vm-100-disk-") and "unused1" not in c
    r = api.post("/nodes/pve1/qemu/100/move_disk", data={"disk": "scsi0", "storage": "local-lvm"})
    assert r.status_code == 500 and r.reason == "you can't move to the same storage with same format"
