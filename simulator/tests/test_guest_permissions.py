"""The permission checks PVE 9 makes in the code of guest create, clone, config and vzdump (handlers/guest_perms.py):
a token with exactly the privileges passes, and each one less fails with PVE's message naming it."""

import pytest

from conftest import Api

TMPL = "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"
QEMU = {"vmid": 300, "pool": "p", "name": "n", "cores": 1, "memory": 1024, "agent": "1", "scsihw": "virtio-scsi-single",
        "scsi0": "local-lvm:2", "ide2": "local-lvm:cloudinit", "ipconfig0": "ip=dhcp", "serial0": "socket",
        "net0": "virtio,bridge=vmbr0,tag=20", "start": 1}
QEMU_ACLS = {"/pool/p": ["VM.Allocate", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Options", "VM.Config.HWType",
                         "VM.Config.Network", "VM.PowerMgmt"],  # ipconfig0: VM.Config.Network or VM.Config.Cloudinit
             "/storage/local-lvm": ["Datastore.AllocateSpace"],
             "/sdn/zones/localnetwork/vmbr0": ["SDN.Use"]}
LXC = {"vmid": 301, "pool": "p", "ostemplate": TMPL, "hostname": "c", "cores": 1, "memory": 512, "swap": 0,
       "rootfs": "local-lvm:4", "net0": "name=eth0,bridge=vmbr0,ip=dhcp", "onboot": 1}
LXC_ACLS = {"/pool/p": ["VM.Allocate", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Disk", "VM.Config.Network",
                        "VM.Config.Options"],
            "/storage/local-lvm": ["Datastore.AllocateSpace"],
            "/storage/local": ["Datastore.Audit"],
            "/sdn/zones/localnetwork/vmbr0": ["SDN.Use"]}


def grant(api, acls):
    api.ok("POST", "/pools", data={"poolid": "p"})
    api.ok("POST", "/access/users", data={"userid": "gp@pve"})
    tok = api.ok("POST", "/access/users/gp@pve/token/tk", data={"privsep": 0})
    for i, (path, privs) in enumerate(sorted(acls.items())):
        api.ok("POST", "/access/roles", data={"roleid": "r%d" % i, "privs": ",".join(privs)})
        api.ok("PUT", "/access/acl", data={"path": path, "roles": "r%d" % i, "users": "gp@pve"})
    return tok["value"]


def attempts(acls):
    yield None
    for path, privs in sorted(acls.items()):
        for priv in privs:
            yield path, priv


@pytest.mark.parametrize("kind,params,acls", [("qemu", QEMU, QEMU_ACLS), ("lxc", LXC, LXC_ACLS)])
def test_create_needs_exactly_its_privileges(pvesim, api, kind, params, acls):
    secret = grant(api, acls)
    tapi = Api(pvesim, headers={"Authorization": "PVEAPIToken=gp@pve!tk=" + secret})
    roles = {path: "r%d" % i for i, path in enumerate(sorted(acls))}
    for drop in attempts(acls):
        for path, privs in acls.items():
            keep = [p for p in privs if drop is None or (path, p) != drop]
            api.ok("PUT", "/access/roles/" + roles[path], data={"privs": ",".join(keep) or "Sys.Audit"})
        r = tapi.post("/nodes/pve1/%s" % kind, data=params)
        if drop is None:
            assert r.status_code == 200, r.reason
            api.task(r.json()["data"])
            if params.get("start"):
                api.run("POST", "/nodes/pve1/%s/%s/status/stop" % (kind, params["vmid"]))
            api.run("DELETE", "/nodes/pve1/%s/%s" % (kind, params["vmid"]))
        else:
            assert r.status_code == 403 and drop[1] in r.reason, (drop, r.status_code, r.reason)


@pytest.mark.parametrize("kind,params,acls", [("qemu", QEMU, QEMU_ACLS), ("lxc", LXC, LXC_ACLS)])
def test_tags_at_create_need_the_guest_path_not_the_pool(pvesim, api, kind, params, acls):
    # GuestHelpers::assert_tag_permissions checks /vms/VMID without the pool: the new guest is in no pool yet
    secret = grant(api, acls)
    tapi = Api(pvesim, headers={"Authorization": "PVEAPIToken=gp@pve!tk=" + secret})
    vmid = params["vmid"]
    tagged = dict(params, tags="web;prod", start=0)
    r = tapi.post("/nodes/pve1/%s" % kind, data=tagged)
    assert r.status_code == 403 and r.reason == "Permission check failed (/vms/%s, VM.Config.Options)" % vmid, r.reason
    # without tags the pool's ACL suffices, and once the guest is in the pool a config write sets them
    api.task(tapi.ok("POST", "/nodes/pve1/%s" % kind, data=dict(params, start=0)))
    tapi.ok("PUT", "/nodes/pve1/%s/%s/config" % (kind, vmid), data={"tags": "web;prod"})
    assert sorted(api.ok("GET", "/nodes/pve1/%s/%s/config" % (kind, vmid))["tags"].split(";")) == ["prod", "web"]
    api.run("DELETE", "/nodes/pve1/%s/%s" % (kind, vmid))
    # an ACL on the guest's own path lets the create carry its tags
    api.ok("POST", "/access/roles", data={"roleid": "opts", "privs": "VM.Config.Options"})
    api.ok("PUT", "/access/acl", data={"path": "/vms/%s" % vmid, "roles": "opts", "users": "gp@pve"})
    api.task(tapi.ok("POST", "/nodes/pve1/%s" % kind, data=tagged))


def test_bridge_check_names_the_vlan_and_trunks(pvesim, api):
    secret = grant(api, {"/pool/p": ["VM.Allocate", "VM.Config.Network"], "/sdn/zones/localnetwork/vmbr0/20": ["SDN.Use"]})
    tapi = Api(pvesim, headers={"Authorization": "PVEAPIToken=gp@pve!tk=" + secret})
    r = tapi.post("/nodes/pve1/qemu", data={"vmid": 302, "pool": "p", "net0": "virtio,bridge=vmbr0"})
    assert r.status_code == 403 and r.reason == "Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)"
    r = tapi.post("/nodes/pve1/qemu", data={"vmid": 302, "pool": "p", "net0": "virtio,bridge=vmbr0,tag=20,trunks=30"})
    assert r.status_code == 403 and r.reason == "Permission check failed (/sdn/zones/localnetwork/vmbr0/30, SDN.Use)"
    assert tapi.post("/nodes/pve1/qemu", data={"vmid": 302, "pool": "p", "net0": "virtio,bridge=vmbr0,tag=20"}).ok


def test_root_only_options_and_privileged_containers(pvesim, api):
    secret = grant(api, {"/pool/p": ["VM.Allocate"] + QEMU_ACLS["/pool/p"], "/storage/local": ["Datastore.Audit"]})
    tapi = Api(pvesim, headers={"Authorization": "PVEAPIToken=gp@pve!tk=" + secret})
    r = tapi.post("/nodes/pve1/qemu", data={"vmid": 303, "pool": "p", "args": "-no-reboot"})
    assert r.status_code == 403 and "only root can set 'args' config" in r.reason
    r = tapi.post("/nodes/pve1/lxc", data={"vmid": 304, "pool": "p", "ostemplate": TMPL, "unprivileged": 0})
    assert r.status_code == 403 and r.reason == "Permission check failed (/, Sys.Modify)"


def test_vzdump_needs_backup_and_space(pvesim, api):
    api.create_vm(100)
    secret = grant(api, {"/vms/100": ["VM.Backup"], "/storage/local": ["Datastore.AllocateSpace"]})
    tapi = Api(pvesim, headers={"Authorization": "PVEAPIToken=gp@pve!tk=" + secret})
    r = tapi.post("/nodes/pve1/vzdump", data={"vmid": 100, "storage": "local", "bwlimit": 1000})
    assert r.status_code == 403 and r.reason == "Permission check failed (/, Sys.Modify)"
    api.ok("PUT", "/access/roles/r0", data={"privs": "Datastore.Audit"})
    r = tapi.post("/nodes/pve1/vzdump", data={"vmid": 100, "storage": "local"})
    assert r.status_code == 403 and r.reason == "Permission check failed (/storage/local, Datastore.AllocateSpace)"
    api.ok("PUT", "/access/roles/r0", data={"privs": "Datastore.AllocateSpace"})
    api.ok("PUT", "/access/roles/r1", data={"privs": "VM.Audit"})
    r = tapi.post("/nodes/pve1/vzdump", data={"vmid": 100, "storage": "local"})
    assert r.status_code == 403 and r.reason == "Permission check failed (/vms/100, VM.Backup)"
    api.ok("PUT", "/access/roles/r1", data={"privs": "VM.Backup"})
    assert api.task(tapi.post("/nodes/pve1/vzdump", data={"vmid": 100, "storage": "local"}).json()["data"])


def test_content_lists_a_disk_to_who_may_use_it(pvesim, api):
    # Content.pm index runs check_volume_access on every volume: a guest's disk needs Datastore.Audit on the
    # storage and VM.Config.Disk on the guest (VM.Audit is not enough)
    api.create_vm(100)
    secret = grant(api, {"/vms/100": ["VM.Audit"], "/storage/local-lvm": ["Datastore.Audit"]})
    tapi = Api(pvesim, headers={"Authorization": "PVEAPIToken=gp@pve!tk=" + secret})

    def listed():
        return [v["volid"] for v in tapi.ok("GET", "/nodes/pve1/storage/local-lvm/content")]

    assert listed() == []
    api.ok("PUT", "/access/roles/r1", data={"privs": "VM.Config.Disk"})
    assert listed() == ["local-lvm:vm-100-disk-0"]
    api.ok("PUT", "/access/roles/r0", data={"privs": "Datastore.AllocateSpace"})
    assert tapi.get("/nodes/pve1/storage/local-lvm/content").ok and listed() == []
