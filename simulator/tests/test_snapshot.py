"""Snapshots as AbstractConfig (pve-guest-common) and QemuConfig/LXC::Config do them: locks, vmstate, parent chain."""


def snaps(api, kind, vmid):
    return dict((s["name"], s) for s in api.ok("GET", "/nodes/pve1/%s/%s/snapshot" % (kind, vmid)))


def test_vmstate_only_for_a_running_vm(api):
    api.create_vm(100)
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "cold", "vmstate": 1})
    assert snaps(api, "qemu", 100)["cold"]["vmstate"] == 0
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "hot", "vmstate": 1, "description": "with RAM"})
    listed = snaps(api, "qemu", 100)
    assert listed["hot"]["vmstate"] == 1 and listed["hot"]["parent"] == "cold"
    assert listed["current"]["running"] == 1 and listed["current"]["parent"] == "hot"
    conf = api.ok("GET", "/nodes/pve1/qemu/100/snapshot/hot/config")
    assert conf["vmstate"].endswith("vm-100-state-hot") and conf["description"] == "with RAM"
    state_vol = conf["vmstate"]
    content = api.ok("GET", "/nodes/pve1/storage/%s/content" % state_vol.split(":")[0])
    assert state_vol in [c["volid"] for c in content]
    # deleting the snapshot removes its state volume
    api.run("DELETE", "/nodes/pve1/qemu/100/snapshot/hot")
    content = api.ok("GET", "/nodes/pve1/storage/%s/content" % state_vol.split(":")[0])
    assert state_vol not in [c["volid"] for c in content]


def test_rollback_stops_and_restarts_from_ram(api):
    api.create_vm(100, description="now")
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "cold"})
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "hot", "vmstate": 1})
    # a snapshot without RAM: the running VM is stopped by the rollback
    api.run("POST", "/nodes/pve1/qemu/100/snapshot/cold/rollback")
    assert api.ok("GET", "/nodes/pve1/qemu/100/status/current")["status"] == "stopped"
    # a snapshot with RAM: the VM runs again afterwards, even from stopped
    api.run("POST", "/nodes/pve1/qemu/100/snapshot/hot/rollback")
    assert api.ok("GET", "/nodes/pve1/qemu/100/status/current")["status"] == "running"
    conf = api.ok("GET", "/nodes/pve1/qemu/100/config")
    # __snapshot_apply_config keeps the current description
    assert conf["parent"] == "hot" and conf["description"] == "now" and "lock" not in conf


def test_snapshot_keeps_its_own_description(api):
    api.create_vm(100, description="guest notes")
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "plain"})
    assert "description" not in api.ok("GET", "/nodes/pve1/qemu/100/snapshot/plain/config")
    assert snaps(api, "qemu", 100)["plain"]["description"] == ""


def test_locked_guest_refuses_delete_and_rollback(api):
    api.create_vm(100)
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "s1"})
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"lock": "backup"})
    api.run("DELETE", "/nodes/pve1/qemu/100/snapshot/s1", expect="VM is locked (backup)")
    api.run("POST", "/nodes/pve1/qemu/100/snapshot/s1/rollback", expect="VM is locked (backup)")
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "s2"}, expect="VM is locked (backup)")
    # force deletes the snapshot despite the lock and leaves the foreign lock alone
    api.run("DELETE", "/nodes/pve1/qemu/100/snapshot/s1", params={"force": 1})
    assert "s1" not in snaps(api, "qemu", 100)


def test_container_snapshots(api):
    api.run("POST", "/nodes/pve1/lxc", data={"vmid": 200, "hostname": "ct200", "rootfs": "local-lvm:4",
                                             "ostemplate": "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"})
    r = api.post("/nodes/pve1/lxc/200/snapshot", data={"snapname": "s1", "vmstate": 1})
    assert r.status_code == 400  # pve-container has no vmstate
    api.run("POST", "/nodes/pve1/lxc/200/snapshot", data={"snapname": "s1", "description": "before"})
    api.run("POST", "/nodes/pve1/lxc/200/snapshot", data={"snapname": "s2"})
    listed = snaps(api, "lxc", 200)
    assert listed["s2"]["parent"] == "s1" and listed["current"]["parent"] == "s2" and "vmstate" not in listed["s1"]
    api.run("POST", "/nodes/pve1/lxc/200/snapshot/s1/rollback")
    assert api.ok("GET", "/nodes/pve1/lxc/200/config")["parent"] == "s1"
    api.run("DELETE", "/nodes/pve1/lxc/200/snapshot/s1")
    assert snaps(api, "lxc", 200)["s2"].get("parent") is None
