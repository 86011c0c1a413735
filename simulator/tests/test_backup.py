"""vzdump and restore as pve-manager PVE/API2/VZDump.pm, qemu-server create_vm (archive) and pve-container
create_vm (restore=1) do them."""

import re

TMPL = "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"


def backups(api, node="pve1", storage="local", vmid=None):
    params = {"content": "backup"}
    if vmid is not None:
        params["vmid"] = vmid
    return api.ok("GET", "/nodes/%s/storage/%s/content" % (node, storage), params=params)


def test_vzdump_makes_a_backup_volume(api):
    api.create_vm(100, name="web1")
    upid = api.run("POST", "/nodes/pve1/vzdump", data={"vmid": 100, "storage": "local", "mode": "snapshot",
                                                        "compress": "zstd", "notes-template": "{{guestname}} on {{node}}"})
    assert upid.split(":")[5:7] == ["vzdump", "100"]
    listed = backups(api)
    assert len(listed) == 1
    b = listed[0]
    assert re.match(r"^local:backup/vzdump-qemu-100-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.vma\.zst$", b["volid"])
    assert b["format"] == "vma.zst" and b["subtype"] == "qemu" and b["vmid"] == 100 and b["notes"] == "web1 on pve1"
    log = [line["t"] for line in api.log(upid)]
    assert "INFO: creating vzdump archive '/var/lib/vz/dump/%s'" % b["volid"].split("/", 1)[1] in log
    assert log[-2:] == ["INFO: Backup job finished successfully", "TASK OK"]
    # the 'backup' lock is gone afterwards
    assert "lock" not in api.ok("GET", "/nodes/pve1/qemu/100/config")


def test_vzdump_refusals(api):
    api.create_vm(100)
    api.run("POST", "/nodes/pve1/vzdump", data={"vmid": 100, "storage": "local-lvm"},
            expect="storage 'local-lvm' does not support vzdump backups")
    # a guest on another node is skipped, and with none left the answer is a plain OK, no task
    assert api.ok("POST", "/nodes/pve2/vzdump", data={"vmid": 100, "storage": "local"}) == "OK"
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"lock": "migrate"})
    api.run("POST", "/nodes/pve1/vzdump", data={"vmid": 100, "storage": "local"}, expect="job errors")
    assert backups(api) == []


def test_restore_to_a_new_and_the_same_vmid(api):
    api.create_vm(100, name="web1", cores=4)
    api.run("POST", "/nodes/pve1/vzdump", data={"vmid": 100, "storage": "local"})
    volid = backups(api)[0]["volid"]
    assert volid.endswith(".vma")  # compress defaults to 0
    upid = api.run("POST", "/nodes/pve1/qemu", data={"vmid": 101, "archive": volid, "storage": "local-lvm",
                                                     "unique": 1})
    assert ":qmrestore:101:" in upid
    old = api.ok("GET", "/nodes/pve1/qemu/100/config")
    new = api.ok("GET", "/nodes/pve1/qemu/101/config")
    assert new["cores"] == 4 and new["name"] == "web1"
    assert new["scsi0"].startswith("local-lvm:vm-101-disk-") and new["net0"] != old["net0"]
    # the same VMID: refused without force, and while the VM runs
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "archive": volid})
    assert r.status_code == 500 and r.reason == "unable to restore VM 100 - VM 100 already exists on node 'pve1'"
    api.run("POST", "/nodes/pve1/qemu/100/status/start")
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "archive": volid, "force": 1})
    assert r.status_code == 500 and r.reason == "unable to restore VM 100 - vm is running"
    api.run("POST", "/nodes/pve1/qemu/100/status/stop")
    api.ok("PUT", "/nodes/pve1/qemu/100/config", data={"cores": 1})
    api.run("POST", "/nodes/pve1/qemu", data={"vmid": 100, "archive": volid, "force": 1})
    conf = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert conf["cores"] == 4
    # the overwritten VM's disk was replaced, not kept next to the restored one
    images = api.ok("GET", "/nodes/pve1/storage/local-lvm/content", params={"vmid": 100})
    assert [v["volid"] for v in images] == [conf["scsi0"].split(",")[0]]
    r = api.post("/nodes/pve1/qemu", data={"vmid": 102, "archive": "local:backup/nope.vma"})
    assert r.status_code == 500 and r.reason == "volume 'local:backup/nope.vma' does not exist"


def test_container_backup_and_restore(api):
    api.run("POST", "/nodes/pve2/lxc", data={"vmid": 200, "hostname": "ct200", "ostemplate": TMPL,
                                             "rootfs": "local-lvm:2"})
    api.run("POST", "/nodes/pve2/vzdump", data={"vmid": 200, "storage": "local", "mode": "stop", "compress": "gzip"})
    b = backups(api, node="pve2", vmid=200)[0]
    assert b["format"] == "tar.gz" and b["subtype"] == "lxc"
    api.run("POST", "/nodes/pve2/lxc/200/status/start")
    r = api.post("/nodes/pve2/lxc", data={"vmid": 200, "ostemplate": b["volid"], "restore": 1, "force": 1})
    assert r.status_code == 500 and r.reason == "can't overwrite running container"
    r = api.post("/nodes/pve2/lxc", data={"vmid": 200, "ostemplate": b["volid"], "restore": 1})
    assert r.status_code == 500 and r.reason == "CT 200 already exists on node 'pve2'"
    upid = api.run("POST", "/nodes/pve2/lxc", data={"vmid": 201, "ostemplate": b["volid"], "restore": 1})
    assert ":vzrestore:201:" in upid
    assert api.ok("GET", "/nodes/pve2/lxc/201/config")["hostname"] == "ct200"
    # a local backup is on its node only
    r = api.post("/nodes/pve1/lxc", data={"vmid": 202, "ostemplate": b["volid"], "restore": 1})
    assert r.status_code == 500 and "does not exist" in r.reason
