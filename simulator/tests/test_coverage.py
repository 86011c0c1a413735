"""Schema coverage: every GET path answers (or is listed in pvesim/unserved.py and the README), plus issue 8's fixes."""

import hashlib
import os
import re
import ssl
import urllib.error

import pytest

from pvesim import unserved
from pvesim.http import schema

README = os.path.join(os.path.dirname(__file__), "..", "README.md")
CT = {"vmid": 200, "ostemplate": "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst", "hostname": "ct200",
      "rootfs": "local-lvm:4", "net0": "name=eth0,bridge=vmbr0,ip=dhcp"}


def _value(name, spec, known):
    if name in known:
        return known[name]
    if spec.get("enum"):
        return spec["enum"][0]
    if spec.get("type") in ("integer", "number"):
        return spec.get("minimum", 1)
    if spec.get("type") == "boolean":
        return 0
    return "x"


def test_every_get_path_answers_unless_listed(pvesim, api):
    api.create_vm(100, agent=1)
    api.run("POST", "/nodes/pve1/lxc", data=CT)
    api.run("POST", "/nodes/pve1/qemu/100/snapshot", data={"snapname": "s1"})
    upid = api.run("POST", "/nodes/pve1/qemu/100/status/start")
    pvesim.advance(30)
    api.ok("POST", "/pools", data={"poolid": "prod"})
    api.ok("POST", "/access/groups", data={"groupid": "ops"})
    api.ok("POST", "/cluster/ha/resources", data={"sid": "ct:200", "state": "stopped"})
    known = {"node": "pve1", "storage": "local", "snapname": "s1", "upid": upid, "userid": "root@pam",
             "tokenid": "pvesim", "roleid": "PVEAdmin", "poolid": "prod", "realm": "pam", "groupid": "ops",
             "sid": "ct:200", "iface": "vmbr0", "volume": "local:iso/debian-13.iso", "feature": "snapshot",
             "timeframe": "hour", "type": "user"}
    failures = []
    for path, methods in sorted(schema.load().methods.items()):
        if "GET" not in methods:
            continue
        m = methods["GET"]
        vals = dict(known, vmid=200 if "/lxc/" in path else 100)
        url = re.sub(r"\{([^}]+)\}", lambda mo: str(_value(mo.group(1), m.props.get(mo.group(1), {}), vals)), path)
        params = {k: _value(k, s, vals) for k, s in m.props.items()
                  if not s.get("optional") and "{%s}" % k not in path}
        r = api.get(url, params=params)
        listed = unserved.area(path)
        if r.status_code == 501 and not listed:
            failures.append((path, r.reason))
        if r.reason.startswith("internal error"):
            failures.append((path, r.reason))
    assert failures == []


def test_unserved_list_is_in_readme_and_matches_the_schema():
    with open(README, encoding="utf-8") as fh:
        assert unserved.readme_block() in fh.read()
    paths = [p for p, ms in schema.load().methods.items() if "GET" in ms]
    for _area, patterns in unserved.UNSERVED:
        for pat in patterns:
            rx = unserved._regex(pat)
            assert any(rx.match(p) for p in paths), pat


def test_node_version_and_collections(api):
    assert api.ok("GET", "/nodes/pve1/version") == {"release": "9.2", "repoid": "c0ffee42", "version": "9.2.2"}
    top = api.ok("GET", "/version")
    assert top["version"] == "9.2.2" and top["console"] == "xtermjs"
    # collections of objects pvesim does not model are empty, not a fake entry named after the parameter
    assert api.ok("GET", "/cluster/backup") == [] and api.ok("GET", "/cluster/firewall/rules") == []
    assert [n["node"] for n in api.ok("GET", "/cluster/config/nodes")] == ["pve1", "pve2", "pve3"]


def test_unlink_detaches_or_frees(api):
    api.create_vm(100, scsi1="local-lvm:2", scsi2="local-lvm:2")
    conf = api.ok("GET", "/nodes/pve1/qemu/100/config")
    vol1, vol2 = conf["scsi1"].split(",")[0], conf["scsi2"].split(",")[0]
    assert api.ok("PUT", "/nodes/pve1/qemu/100/unlink", data={"idlist": "scsi1"}) is None
    conf = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert "scsi1" not in conf and conf["unused0"] == vol1
    assert api.ok("PUT", "/nodes/pve1/qemu/100/unlink", data={"idlist": "scsi2,unused0", "force": 1}) is None
    conf = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert "scsi2" not in conf and "unused0" not in conf
    vols = [c["volid"] for c in api.ok("GET", "/nodes/pve1/storage/local-lvm/content")]
    assert vol1 not in vols and vol2 not in vols
    r = api.put("/nodes/pve1/qemu/100/unlink", data={"idlist": "bogus0"})
    assert r.status_code == 400 and r.json()["errors"] == {"delete": "unknown option 'bogus0'"}


def test_scenario_values_typed_by_schema(pvesim, api):
    pvesim.load_scenario({"guests": [
        {"type": "qemu", "vmid": 100, "node": "pve1", "config": {"agent": 1, "memory": 2048, "onboot": True,
                                                               "cores": "2", "scsi0": "local-lvm:4"}},
        {"type": "lxc", "vmid": 200, "node": "pve1", "config": {"memory": "1024", "onboot": True,
                                                              "rootfs": "local-lvm:4"}}]})
    c = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert (c["agent"], c["memory"], c["onboot"], c["cores"]) == ("1", "2048", 1, 2)
    c = api.ok("GET", "/nodes/pve1/lxc/200/config")
    assert (c["memory"], c["onboot"]) == (1024, 1)
    with pytest.raises(urllib.error.HTTPError) as exc:
        pvesim.load_scenario({"guests": [{"type": "qemu", "vmid": 101, "config": {"cores": "many"}}]})
    assert exc.value.reason == "pvesim admin: scenario guest 101: cores: type check ('integer') failed - got 'many'"
    assert api.ok("GET", "/nodes/pve1/qemu/100/config")["agent"] == "1"  # refused before the state was replaced


def test_certificates_info_describes_the_served_certificate(pvesim, api):
    certs = {c["filename"]: c for c in api.ok("GET", "/nodes/pve1/certificates/info")}
    der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", pvesim.port)))
    assert certs["pve-ssl.pem"]["fingerprint"] == ":".join("%02X" % b for b in hashlib.sha256(der).digest())
    assert certs["pve-ssl.pem"]["san"] == ["DNS:localhost", "IP Address:127.0.0.1"]
    with open(pvesim.ca_path, encoding="ascii") as fh:
        assert certs["pve-root-ca.pem"]["pem"] == fh.read()


def test_feature_and_firewall_options(api):
    api.create_vm(100)
    f = api.ok("GET", "/nodes/pve1/qemu/100/feature", params={"feature": "snapshot"})
    assert f == {"hasFeature": 1, "nodes": ["pve1"]}
    assert api.ok("GET", "/nodes/pve1/qemu/100/feature", params={"feature": "clone"})["hasFeature"] == 0
    api.run("POST", "/nodes/pve1/qemu/100/template")
    assert api.ok("GET", "/nodes/pve1/qemu/100/feature", params={"feature": "clone"})["hasFeature"] == 1
    assert set(api.ok("GET", "/nodes/pve1/qemu/100/firewall/options")) == {"digest"}
