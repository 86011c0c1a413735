"""LXC containers and storage: content, upload (download-url and aplinfo: test_storage_content.py)."""

import hashlib
import re

TMPL = "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"


def create_ct(api, vmid=200, **conf):
    data = {"vmid": vmid, "ostemplate": TMPL, "hostname": "ct%d" % vmid, "rootfs": "local-lvm:8",
            "net0": "name=eth0,bridge=vmbr0,ip=dhcp", "password": "secret123"}
    data.update(conf)
    return api.run("POST", "/nodes/pve1/lxc", data=data)


def test_lxc_create_and_config(api):
    upid = create_ct(api)
    assert upid.split(":")[5] == "vzcreate"
    c = api.ok("GET", "/nodes/pve1/lxc/200/config")
    assert re.match(r"^local-lvm:vm-200-disk-0,size=8G$", c["rootfs"])
    assert re.match(r"^name=eth0,bridge=vmbr0,hwaddr=BC:24:11:[0-9A-F:]{8},ip=dhcp,type=veth$", c["net0"])
    assert c["hostname"] == "ct200" and "password" not in c
    r = api.put("/nodes/pve1/lxc/200/config", data={"memory": 1024, "digest": "0" * 40})
    assert r.status_code == 500
    assert r.reason == "detected modified configuration - file changed by other user? Try again."
    assert api.ok("PUT", "/nodes/pve1/lxc/200/config", data={"memory": 1024, "digest": c["digest"]}) is None
    assert api.ok("GET", "/nodes/pve1/lxc/200/config")["memory"] == 1024
    r = api.post("/nodes/pve1/lxc", data={"vmid": 201, "ostemplate": "local:vztmpl/nope.tar.zst"})
    assert r.status_code == 500 and r.reason == "volume 'local:vztmpl/nope.tar.zst' does not exist"


def test_lxc_power_rules_and_interfaces(api):
    create_ct(api)
    for action in ("stop", "shutdown", "suspend"):
        r = api.post("/nodes/pve1/lxc/200/status/" + action)
        assert r.status_code == 500 and r.reason == "CT 200 not running"
    r = api.post("/nodes/pve1/lxc/200/status/reboot")
    assert r.status_code == 500 and r.reason == "VM 200 not running"
    assert api.ok("GET", "/nodes/pve1/lxc/200/interfaces") is None
    api.run("POST", "/nodes/pve1/lxc/200/status/start")
    r = api.post("/nodes/pve1/lxc/200/status/start")
    assert r.status_code == 500 and r.reason == "CT 200 already running"
    ifs = {i["name"]: i for i in api.ok("GET", "/nodes/pve1/lxc/200/interfaces")}
    assert ifs["eth0"]["inet"].startswith("192.168.100.") and ifs["eth0"]["ip-addresses"][0]["ip-address-type"] == "inet"
    st = api.ok("GET", "/nodes/pve1/lxc/200/status/current")
    assert st["status"] == "running" and st["type"] == "lxc"
    r = api.delete("/nodes/pve1/lxc/200")
    assert r.status_code == 500 and r.reason == "unable to destroy CT 200 - container is running"
    api.run("DELETE", "/nodes/pve1/lxc/200", params={"force": 1, "purge": 1})
    assert [x for x in api.ok("GET", "/nodes/pve1/lxc")] == []


def test_lxc_template_clone_resize(api):
    create_ct(api)
    assert api.ok("POST", "/nodes/pve1/lxc/200/template") is None
    c = api.ok("GET", "/nodes/pve1/lxc/200/config")
    assert c["template"] == 1 and c["rootfs"].startswith("local-lvm:base-200-disk-0")
    api.run("POST", "/nodes/pve1/lxc/200/clone", data={"newid": 201, "hostname": "clone"})
    c2 = api.ok("GET", "/nodes/pve1/lxc/201/config")
    assert c2["hostname"] == "clone" and c2["rootfs"].startswith("local-lvm:base-200-disk-0/vm-201-disk-0")
    api.run("POST", "/nodes/pve1/lxc/200/clone", data={"newid": 202, "full": 1})
    api.run("PUT", "/nodes/pve1/lxc/202/resize", data={"disk": "rootfs", "size": "+2G"})
    assert api.ok("GET", "/nodes/pve1/lxc/202/config")["rootfs"].endswith("size=10G")


def test_storage_list_and_content(api):
    st = {s["storage"]: s for s in api.ok("GET", "/nodes/pve1/storage")}
    assert set(st) == {"local", "local-lvm", "shared"}
    assert st["local-lvm"]["type"] == "lvmthin" and st["shared"]["shared"] == 1
    assert st["local"]["total"] - st["local"]["used"] == st["local"]["avail"]
    content = {c["volid"]: c for c in api.ok("GET", "/nodes/pve1/storage/local/content")}
    assert {"local:iso/debian-13.iso", TMPL, "local:import/debian-13-genericcloud-amd64.qcow2"} <= set(content)
    assert content["local:iso/debian-13.iso"]["content"] == "iso"
    upid = api.run("DELETE", "/nodes/pve1/storage/local/content/local:iso/debian-13.iso")
    assert upid.split(":")[5:7] == ["imgdel", "local"]  # Content.pm delete: id "[vmid@]storage"
    assert "local:iso/debian-13.iso" not in [c["volid"] for c in api.ok("GET", "/nodes/pve1/storage/local/content")]


def test_upload(api):
    data = b"ISO" * 1000
    sha = hashlib.sha256(data).hexdigest()
    r = api.post("/nodes/pve1/storage/local/upload", data={"content": "iso", "checksum": sha,
                                                           "checksum-algorithm": "sha256"},
                 files={"filename": ("up.iso", data)})
    assert r.status_code == 200, r.text
    upid = r.json()["data"]
    assert upid.split(":")[5:7] == ["imgcopy", ""]
    assert api.task(upid)["exitstatus"] == "OK"
    vols = {c["volid"]: c for c in api.ok("GET", "/nodes/pve1/storage/local/content", params={"content": "iso"})}
    assert vols["local:iso/up.iso"]["size"] == len(data)
    r = api.post("/nodes/pve1/storage/local/upload", data={"content": "iso", "checksum": "0" * 64,
                                                           "checksum-algorithm": "sha256"},
                 files={"filename": ("bad.iso", data)})
    st = api.task(r.json()["data"])
    assert st["exitstatus"] == "checksum mismatch: got '%s' != expect '%s'" % (sha, "0" * 64)


def test_tasks_list_and_stop(pvesim, api):
    create_ct(api)
    tasks = api.ok("GET", "/nodes/pve1/tasks")
    assert tasks[0]["type"] == "vzcreate" and tasks[0]["status"] == "OK"
    r = api.get("/nodes/pve1/tasks", params={"typefilter": "vzcreate"})
    assert r.json()["total"] == 1
    r = api.get("/nodes/pve1/tasks/UPID:bad/status")
    assert r.status_code == 400 and r.json()["errors"] == {"upid": "unable to parse worker upid"}
    pvesim.app.cluster.clock.time_scale = 1.0
    try:
        upid = api.ok("POST", "/nodes/pve1/lxc/200/status/start")
        assert api.task(upid)["status"] == "running"
        api.ok("DELETE", "/nodes/pve1/tasks/" + upid)
        assert api.task(upid)["exitstatus"] == "received interrupt"
    finally:
        pvesim.app.cluster.clock.time_scale = 0.0


def test_ha_resources(api):
    api.create_vm(100)
    assert api.ok("POST", "/cluster/ha/resources", data={"sid": "vm:100", "state": "started"}) is None
    r = api.post("/cluster/ha/resources", data={"sid": "100"})
    assert r.status_code == 500 and r.reason == "create resource failed: resource ID 'vm:100' already defined"
    assert api.ok("GET", "/cluster/ha/resources/vm:100")["state"] == "started"
    assert api.ok("GET", "/nodes/pve1/qemu/100/status/current")["ha"]["managed"] == 1
    res = {x["id"]: x for x in api.ok("GET", "/cluster/resources", params={"type": "vm"})}
    assert res["qemu/100"]["hastate"] == "started"
    upid = api.run("POST", "/nodes/pve1/qemu/100/status/stop")
    assert upid.split(":")[5] == "hastop"
    assert api.ok("GET", "/cluster/ha/resources/vm:100")["state"] == "stopped"
    r = api.delete("/nodes/pve1/qemu/100")
    assert r.status_code == 500
    assert r.reason == "unable to remove VM 100 - used in HA resources and purge parameter not set."
    api.ok("DELETE", "/cluster/ha/resources/vm:100")


def test_storage_config_and_network(api):
    defs = {s["storage"]: s for s in api.ok("GET", "/storage")}
    assert defs["local-lvm"]["type"] == "lvmthin" and defs["shared"]["shared"] == 1 and len(defs["local"]["digest"]) == 40
    assert api.ok("GET", "/storage/local")["path"] == "/var/lib/vz"
    assert "vmbr0" in [i["iface"] for i in api.ok("GET", "/nodes/pve1/network", params={"type": "any_bridge"})]
