"""LXC as pve-container does it: create checks and volume naming, config update rules, hotplug, features, clone."""

import requests

from conftest import Api

TMPL = "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"


def ct(api, vmid=200, expect="OK", **conf):
    data = {"vmid": vmid, "ostemplate": TMPL, "net0": "name=eth0,bridge=vmbr0,ip=dhcp", "password": "secret123"}
    data.update(conf)
    return api.run("POST", "/nodes/pve1/lxc", data=data, expect=expect)


def root_ticket_api(pvesim):
    d = requests.post(pvesim.url + "/api2/json/access/ticket", data={"username": "root@pam", "password": "pvesim"},
                      verify=pvesim.ca_path).json()["data"]
    return Api(pvesim, headers={"CSRFPreventionToken": d["CSRFPreventionToken"]}, cookies={"PVEAuthCookie": d["ticket"]})


def test_create_defaults_and_volume_naming(api):
    ct(api, 200, rootfs="local-lvm:8", mp0="shared:2,mp=/data", mp1="shared:0,mp=/srv", unprivileged=1)
    c = api.ok("GET", "/nodes/pve1/lxc/200/config")
    # alloc_disk: raw volume on lvmthin, raw image on dir/nfs with a size, a subvol for size 0
    assert c["rootfs"] == "local-lvm:vm-200-disk-0,size=8G"
    # disk numbers count per storage (find_free_diskname lists the storage's images of the guest)
    assert c["mp0"] == "shared:200/vm-200-disk-0.raw,mp=/data,size=2G"
    assert c["mp1"] == "shared:200/subvol-200-disk-1.subvol,mp=/srv,size=0T"
    assert (c["memory"], c["swap"], c["unprivileged"], c["ostype"], c["arch"]) == (512, 512, 1, "debian", "amd64")
    assert "password" not in c and "ostemplate" not in c
    # update_pct_config's rewrites, which create_vm runs too
    api.ok("PUT", "/nodes/pve1/lxc/200/config", data={"description": "two\nlines", "nameserver": "1.1.1.1,8.8.8.8",
                                                      "searchdomain": "a.example;b.example"})
    c = api.ok("GET", "/nodes/pve1/lxc/200/config")
    assert (c["description"], c["nameserver"], c["searchdomain"]) == ("two\nlines\n", "1.1.1.1 8.8.8.8",
                                                                      "a.example b.example")
    r = api.put("/nodes/pve1/lxc/200/config", data={"nameserver": "1.1.1.1 nonsense"})
    assert r.status_code == 500 and r.reason == "value does not look like a valid IP address"
    ct(api, 201, rootfs="4", storage="shared")  # a bare size takes the 'storage' parameter
    assert api.ok("GET", "/nodes/pve1/lxc/201/config")["rootfs"] == "shared:201/vm-201-disk-0.raw,size=4G"


def test_create_refusals(api):
    r = api.post("/nodes/pve1/lxc", data={"vmid": 200, "ostemplate": TMPL})  # rootfs defaults to 'local:4'
    assert r.status_code == 400 and r.json()["errors"] == {
        "storage": "storage 'local' does not support container directories"}
    r = api.post("/nodes/pve1/lxc", data={"vmid": 200, "ostemplate": TMPL, "mp0": "local-lvm:1,mp=/x"})
    assert r.status_code == 500 and r.reason == "mount points configured, but 'rootfs' not set - aborting"
    r = api.post("/nodes/pve1/lxc", data={"vmid": 200, "ostemplate": "local:vztmpl/none.tar.zst", "rootfs": "local-lvm:1"})
    assert r.status_code == 500 and r.reason == "volume 'local:vztmpl/none.tar.zst' does not exist"
    # check_ct_modify_config_perm compares the user with root@pam: root's API token is not root@pam
    r = api.post("/nodes/pve1/lxc", data={"vmid": 200, "ostemplate": TMPL, "rootfs": "local-lvm:1",
                                          "mp0": "/srv/data,mp=/data"})
    assert r.status_code == 403 and r.reason == "Permission check failed (mount point type bind is only allowed for root@pam)"
    r = api.post("/nodes/pve1/lxc", data={"vmid": 200, "ostemplate": TMPL, "rootfs": "local-lvm:1",
                                          "unprivileged": 1, "features": "nesting=1,keyctl=1"})
    assert r.status_code == 403
    assert r.reason == "Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)"
    r = api.post("/nodes/pve1/lxc", data={"vmid": 200, "ostemplate": TMPL, "rootfs": "local-lvm:1",
                                          "features": "nesting=1"})
    assert r.status_code == 403
    assert r.reason == "Permission check failed (changing feature flags for privileged container is only allowed for root@pam)"
    r = api.post("/nodes/pve1/lxc", data={"vmid": 200, "ostemplate": TMPL, "rootfs": "local-lvm:1",
                                          "ssh-public-keys": "ssh-ed25519 notbase64!! me@host"})
    assert r.status_code == 500 and r.reason == "SSH public key validation error"
    assert api.ok("GET", "/nodes/pve1/lxc") == []
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC5bwYrxZsAZkuexJJvXtv7pDZqlEb8/m3Oia6VjCgzy me@host"
    ct(api, 200, rootfs="local-lvm:1", **{"ssh-public-keys": key + "\n\n"})
    assert "ssh-public-keys" not in api.ok("GET", "/nodes/pve1/lxc/200/config")


def test_features_nesting_for_tokens_everything_for_root(pvesim, api):
    ct(api, 200, rootfs="local-lvm:1", unprivileged=1, features="nesting=1")
    r = api.put("/nodes/pve1/lxc/200/config", data={"features": "nesting=1,keyctl=1"})
    assert r.status_code == 403
    root = root_ticket_api(pvesim)
    assert root.ok("PUT", "/nodes/pve1/lxc/200/config", data={"features": "nesting=1,keyctl=1"}) is None
    assert api.ok("GET", "/nodes/pve1/lxc/200/config")["features"] == "nesting=1,keyctl=1"


def test_update_rules_and_hotplug(api):
    ct(api, 200, rootfs="local-lvm:1", unprivileged=1)
    r = api.put("/nodes/pve1/lxc/200/config", data={"unprivileged": 0})
    assert r.status_code == 500 and r.reason == "unable to modify read-only option: 'unprivileged'"
    r = api.put("/nodes/pve1/lxc/200/config", data={"delete": "memory"})
    assert r.status_code == 500 and r.reason == "unable to delete required option 'memory'"
    r = api.put("/nodes/pve1/lxc/200/config", data={"mp0": "local:1,mp=/x"})
    assert r.status_code == 500 and r.reason == "storage 'local' does not allow content type 'rootdir' (Container)"
    api.run("POST", "/nodes/pve1/lxc/200/status/start")
    api.ok("PUT", "/nodes/pve1/lxc/200/config", data={"hostname": "web", "memory": 1024, "nameserver": "1.1.1.1",
                                                      "mp0": "local-lvm:1,mp=/data", "tags": "b;a;b"})
    cur = api.ok("GET", "/nodes/pve1/lxc/200/config", params={"current": 1})
    # fastplug (hostname, tags), cgroup (memory) and a new mount point are live; nameserver waits for a restart
    assert (cur["hostname"], cur["memory"], cur["tags"]) == ("web", 1024, "b;a")
    assert cur["mp0"].startswith("local-lvm:vm-200-disk-1,mp=/data") and "nameserver" not in cur
    pending = {e["key"]: e for e in api.ok("GET", "/nodes/pve1/lxc/200/pending")}
    assert pending["nameserver"] == {"key": "nameserver", "pending": "1.1.1.1"}
    api.ok("PUT", "/nodes/pve1/lxc/200/config", data={"mp0": "local-lvm:2,mp=/data"})  # an existing mp: pending
    assert api.ok("GET", "/nodes/pve1/lxc/200/config", params={"current": 1})["mp0"] == cur["mp0"]
    api.run("POST", "/nodes/pve1/lxc/200/status/reboot")
    after = api.ok("GET", "/nodes/pve1/lxc/200/config")
    assert after["nameserver"] == "1.1.1.1" and after["mp0"].startswith("local-lvm:vm-200-disk-2,")
    assert after["unused0"] == "local-lvm:vm-200-disk-1"


def test_resize_grow_only(api):
    ct(api, 200, rootfs="local-lvm:2")
    api.run("PUT", "/nodes/pve1/lxc/200/resize", data={"disk": "rootfs", "size": "+1G"})
    assert api.ok("GET", "/nodes/pve1/lxc/200/config")["rootfs"] == "local-lvm:vm-200-disk-0,size=3G"
    # resize_vm runs its load_and_check before the fork too: these refusals are synchronous
    r = api.put("/nodes/pve1/lxc/200/resize", data={"disk": "rootfs", "size": "1G"})
    assert r.status_code == 500 and r.reason == "unable to shrink disk size"
    r = api.put("/nodes/pve1/lxc/200/resize", data={"disk": "rootfs", "size": "3G"})
    assert r.status_code == 500 and r.reason == "disk is already at specified size"


def test_template_and_clones(api):
    ct(api, 200, rootfs="local-lvm:1", mp0="shared:0,mp=/srv")
    r = api.post("/nodes/pve1/lxc/200/clone", data={"newid": 201, "full": 0})
    # clone_vm walks the keys sorted: mp0 comes before rootfs
    assert r.status_code == 500
    assert r.reason == "Linked clone feature for 'shared:200/subvol-200-disk-0.subvol' is not available"
    api.run("POST", "/nodes/pve1/lxc/200/clone", data={"newid": 201})  # not a template: a full copy
    c = api.ok("GET", "/nodes/pve1/lxc/201/config")
    assert c["rootfs"].startswith("local-lvm:vm-201-disk-0,") and c["mp0"].startswith("shared:201/subvol-201-disk-0.subvol")
    assert api.ok("POST", "/nodes/pve1/lxc/200/template") is None
    c = api.ok("GET", "/nodes/pve1/lxc/200/config")
    assert c["template"] == 1 and c["rootfs"].startswith("local-lvm:base-200-disk-0,")
    assert c["mp0"].startswith("shared:200/basevol-200-disk-0.subvol")
    api.run("POST", "/nodes/pve1/lxc/200/clone", data={"newid": 202, "hostname": "linked"})
    c = api.ok("GET", "/nodes/pve1/lxc/202/config")
    assert c["rootfs"].startswith("local-lvm:base-200-disk-0/vm-202-disk-0,") and c["hostname"] == "linked"


def test_move_volume_holds_the_disk_lock(pvesim, api):
    ct(api, 200, rootfs="local-lvm:1")
    api.run("POST", "/nodes/pve1/lxc/200/status/start")
    r = api.post("/nodes/pve1/lxc/200/move_volume", data={"volume": "rootfs", "storage": "shared"})
    assert r.status_code == 500 and r.reason == "cannot move volumes of a running container"
    api.run("POST", "/nodes/pve1/lxc/200/status/stop")
    pvesim.app.cluster.clock.time_scale = 1.0
    try:
        upid = api.ok("POST", "/nodes/pve1/lxc/200/move_volume", data={"volume": "rootfs", "storage": "shared"})
        assert api.ok("GET", "/nodes/pve1/lxc/200/config")["lock"] == "disk"
        r = api.put("/nodes/pve1/lxc/200/config", data={"memory": 1024})
        assert r.status_code == 500 and r.reason == "CT is locked (disk)"
    finally:
        pvesim.app.cluster.clock.time_scale = 0.0
        pvesim.advance(600)
    assert api.task(upid)["exitstatus"] == "OK"
    c = api.ok("GET", "/nodes/pve1/lxc/200/config")
    assert "lock" not in c and c["rootfs"].startswith("shared:200/vm-200-disk-0.raw,")


def test_clone_checks_and_locks(pvesim, api):
    ct(api, 200, rootfs="local-lvm:1")
    api.create_vm(300)
    r = api.post("/nodes/pve1/lxc/200/clone", data={"newid": 300})
    assert r.status_code == 500 and r.reason == "VM 300 already exists on node 'pve1'"
    r = api.post("/nodes/pve1/lxc/200/clone", data={"newid": 201, "target": "pve2"})
    assert r.status_code == 500 and r.reason == "can't clone CT to node 'pve2' (CT uses local storage)"
    api.run("POST", "/nodes/pve1/lxc/200/status/start")
    r = api.post("/nodes/pve1/lxc/200/clone", data={"newid": 201})
    assert r.status_code == 500 and r.reason == "Cannot do full clones on a running container without snapshots"
    api.run("POST", "/nodes/pve1/lxc/200/status/stop")
    pvesim.app.cluster.clock.time_scale = 1.0
    try:
        upid = api.ok("POST", "/nodes/pve1/lxc/200/clone", data={"newid": 201})
        # clone_vm: the source holds lock 'disk', the copy lock 'create' until the worker ends
        assert api.ok("GET", "/nodes/pve1/lxc/200/config")["lock"] == "disk"
        assert api.ok("GET", "/nodes/pve1/lxc/201/config")["lock"] == "create"
    finally:
        pvesim.app.cluster.clock.time_scale = 0.0
        pvesim.advance(600)
    assert api.task(upid)["exitstatus"] == "OK"
    assert "lock" not in api.ok("GET", "/nodes/pve1/lxc/200/config")
    assert "lock" not in api.ok("GET", "/nodes/pve1/lxc/201/config")
