"""Tickets, cookie/header, CSRF, API tokens, privilege separation, allowtoken and 403 wording."""

import re

import requests

from conftest import Api


def login(sim, user="root@pam", password="pvesim"):
    return requests.post(sim.url + "/api2/json/access/ticket", data={"username": user, "password": password},
                         verify=sim.ca_path)


def test_ticket_login(pvesim):
    r = login(pvesim)
    assert r.status_code == 200
    d = r.json()["data"]
    assert d["username"] == "root@pam"
    assert re.match(r"^PVE:root@pam:[0-9A-F]{8}::[A-Za-z0-9+/]+=*$", d["ticket"])
    assert re.match(r"^[0-9A-F]{8}:\S+$", d["CSRFPreventionToken"])
    assert "vms" in d["cap"] and d["clustername"]


def test_login_failure(pvesim):
    r = login(pvesim, password="wrong")
    assert r.status_code == 401 and r.reason == "authentication failure"
    assert r.content == b""
    assert login(pvesim, user="nobody@pve").status_code == 401


def test_realm_param_and_renewal(pvesim):
    r = requests.post(pvesim.url + "/api2/json/access/ticket", data={"username": "root", "realm": "pam",
                                                                     "password": "pvesim"}, verify=pvesim.ca_path)
    t = r.json()["data"]["ticket"]
    r2 = login(pvesim, password=t)
    assert r2.status_code == 200 and r2.json()["data"]["ticket"].startswith("PVE:root@pam:")


def test_no_ticket(pvesim):
    r = requests.get(pvesim.url + "/api2/json/nodes", verify=pvesim.ca_path)
    assert r.status_code == 401 and r.reason == "No ticket" and r.content == b""


def test_cookie_and_csrf(pvesim):
    d = login(pvesim).json()["data"]
    api = Api(pvesim, headers={}, cookies={"PVEAuthCookie": d["ticket"]})
    assert api.get("/nodes").status_code == 200
    r = api.post("/pools", data={"poolid": "p1"})
    assert r.status_code == 401 and r.reason == "Permission denied - invalid csrf token"
    r = api.post("/pools", data={"poolid": "p1"}, headers={"CSRFPreventionToken": d["CSRFPreventionToken"]})
    assert r.status_code == 200
    # Authorization: PVEAuthCookie= fallback
    r = requests.get(pvesim.url + "/api2/json/nodes", verify=pvesim.ca_path,
                     headers={"Authorization": "PVEAuthCookie=" + d["ticket"]})
    assert r.status_code == 200


def test_bad_and_expired_ticket(pvesim):
    d = login(pvesim).json()["data"]
    bad = d["ticket"][:-4] + "AAAA"
    r = requests.get(pvesim.url + "/api2/json/nodes", verify=pvesim.ca_path, cookies={"PVEAuthCookie": bad})
    assert r.status_code == 401 and r.reason == "Authentication failed!"
    pvesim.advance(7200 + 301)
    r = requests.get(pvesim.url + "/api2/json/nodes", verify=pvesim.ca_path, cookies={"PVEAuthCookie": d["ticket"]})
    assert r.status_code == 401 and r.reason == "Authentication failed!"


def test_api_token(pvesim):
    r = requests.get(pvesim.url + "/api2/json/nodes", verify=pvesim.ca_path, headers=pvesim.token_header)
    assert r.status_code == 200 and len(r.json()["data"]) == 3
    r = requests.get(pvesim.url + "/api2/json/nodes", verify=pvesim.ca_path,
                     headers={"Authorization": "PVEAPIToken=root@pam!pvesim=wrong"})
    assert r.status_code == 401 and r.reason == "Authentication failed!"
    # no CSRF for tokens
    r = requests.post(pvesim.url + "/api2/json/pools", data={"poolid": "p2"}, verify=pvesim.ca_path,
                      headers=pvesim.token_header)
    assert r.status_code == 200


def test_allowtoken_zero(api):
    r = api.put("/access/password", data={"userid": "root@pam", "password": "newpassword1"})
    assert r.status_code == 403
    assert r.reason == "Permission check failed (URI '/access/password' not available with API token, need proper ticket."
    r = api.post("/access/ticket", data={"username": "root@pam", "password": "pvesim"})
    assert r.status_code == 403


def _least_privilege(api):
    api.ok("POST", "/access/users", data={"userid": "ci@pve", "password": "cipassword1"})
    tok = api.ok("POST", "/access/users/ci@pve/token/auto", data={"privsep": 1})
    assert tok["full-tokenid"] == "ci@pve!auto"
    api.ok("PUT", "/access/acl", data={"path": "/vms/100", "roles": "PVEVMUser", "users": "ci@pve"})
    api.ok("PUT", "/access/acl", data={"path": "/vms/100", "roles": "PVEAuditor", "tokens": "ci@pve!auto"})
    return tok


def test_token_privsep_and_403(pvesim, api):
    api.create_vm(100)
    api.create_vm(101)
    tok = _least_privilege(api)
    tapi = Api(pvesim, headers={"Authorization": "PVEAPIToken=ci@pve!auto=" + tok["value"]})
    # token may audit VM 100 (intersection of PVEVMUser and PVEAuditor) but not power it
    assert tapi.get("/nodes/pve1/qemu/100/config").status_code == 200
    r = tapi.post("/nodes/pve1/qemu/100/status/start")
    assert r.status_code == 403 and r.reason == "Permission check failed (/vms/100, VM.PowerMgmt)"
    assert r.json()["message"] == "Permission check failed (/vms/100, VM.PowerMgmt)\n"
    # lists filter silently
    res = tapi.ok("GET", "/cluster/resources", params={"type": "vm"})
    assert [x["vmid"] for x in res] == [100]
    assert [x["vmid"] for x in tapi.ok("GET", "/nodes/pve1/qemu")] == [100]
    # the user itself (ticket) may power it
    d = login(pvesim, "ci@pve", "cipassword1").json()["data"]
    uapi = Api(pvesim, headers={"CSRFPreventionToken": d["CSRFPreventionToken"]}, cookies={"PVEAuthCookie": d["ticket"]})
    assert uapi.post("/nodes/pve1/qemu/100/status/start").status_code == 200
    r = uapi.post("/nodes/pve1/qemu/101/status/start")
    assert r.status_code == 403 and r.reason == "Permission check failed (/vms/101, VM.PowerMgmt)"
    perms = uapi.ok("GET", "/access/permissions")
    assert perms["/vms/100"]["VM.PowerMgmt"] == 1


def test_pool_acl_inheritance(pvesim, api):
    api.ok("POST", "/pools", data={"poolid": "team"})
    api.create_vm(100, pool="team")
    api.create_vm(101)
    api.ok("POST", "/access/users", data={"userid": "t@pve"})
    tok = api.ok("POST", "/access/users/t@pve/token/xt", data={"privsep": 0})
    api.ok("PUT", "/access/acl", data={"path": "/pool/team", "roles": "PVEVMAdmin", "users": "t@pve"})
    tapi = Api(pvesim, headers={"Authorization": "PVEAPIToken=t@pve!xt=" + tok["value"]})
    assert tapi.post("/nodes/pve1/qemu/100/status/start").status_code == 200
    assert tapi.post("/nodes/pve1/qemu/101/status/start").status_code == 403


def test_root_only_and_roles(api):
    roles = {r["roleid"]: r for r in api.ok("GET", "/access/roles")}
    assert "VM.PowerMgmt" in roles["PVEVMUser"]["privs"]
    assert "Sys.Modify" not in roles["PVEAdmin"]["privs"]
    assert {"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"} in api.ok("GET", "/access/domains")


def test_per_option_config_privileges(pvesim, api):
    api.create_vm(100)
    api.ok("POST", "/access/users", data={"userid": "cd@pve"})
    tok = api.ok("POST", "/access/users/cd@pve/token/ci", data={"privsep": 0})
    api.ok("PUT", "/access/acl", data={"path": "/vms/100", "roles": "PVEVMUser", "users": "cd@pve"})
    tapi = Api(pvesim, headers={"Authorization": "PVEAPIToken=cd@pve!ci=" + tok["value"]})
    r = tapi.put("/nodes/pve1/qemu/100/config", data={"memory": 4096})
    assert r.status_code == 403 and r.reason == "Permission check failed (/vms/100, VM.Config.Memory)"
    assert tapi.put("/nodes/pve1/qemu/100/config", data={"ide2": "local:iso/debian-13.iso,media=cdrom"}).status_code == 200
    assert tapi.put("/nodes/pve1/qemu/100/config", data={"ciuser": "admin"}).status_code == 200
    r = tapi.post("/nodes/pve1/qemu", data={"vmid": 300})
    assert r.status_code == 403 and r.reason == "Permission check failed (/vms/300, VM.Allocate)"


def test_clone_needs_allocate_on_new_vmid(pvesim, api):
    api.create_vm(100)
    api.ok("POST", "/pools", data={"poolid": "tp"})
    api.ok("POST", "/access/users", data={"userid": "cl@pve"})
    tok = api.ok("POST", "/access/users/cl@pve/token/ci", data={"privsep": 0})
    api.ok("PUT", "/access/acl", data={"path": "/vms/100", "roles": "PVETemplateUser", "users": "cl@pve"})
    tapi = Api(pvesim, headers={"Authorization": "PVEAPIToken=cl@pve!ci=" + tok["value"]})
    r = tapi.post("/nodes/pve1/qemu/100/clone", data={"newid": 101})
    assert r.status_code == 403
    api.ok("PUT", "/access/acl", data={"path": "/pool/tp", "roles": "PVEVMAdmin", "users": "cl@pve"})
    # clone_vm checks the bridge of every network device of the source (check_bridge_access)
    r = tapi.post("/nodes/pve1/qemu/100/clone", data={"newid": 101, "pool": "tp"})
    assert r.status_code == 403 and r.reason == "Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)"
    api.ok("PUT", "/access/acl", data={"path": "/sdn/zones/localnetwork/vmbr0", "roles": "PVESDNUser", "users": "cl@pve"})
    assert tapi.post("/nodes/pve1/qemu/100/clone", data={"newid": 101, "pool": "tp"}).status_code == 200
