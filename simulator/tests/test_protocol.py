"""Wire protocol: envelope, reason phrases, 400/501 errors, booleans, value types, parameter sources."""

import json

import requests


def test_envelope_and_version(api):
    r = api.get("/version")
    assert r.status_code == 200 and r.reason == "OK"
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["data"]["release"] == "9.2"
    assert r.json()["data"]["version"].startswith("9.2.")


def test_unknown_path_501(api):
    r = api.get("/nodes/x/foo")
    assert r.status_code == 501
    assert r.reason == "Method 'GET /nodes/x/foo' not implemented"
    assert r.json() == {"data": None, "message": "Method 'GET /nodes/x/foo' not implemented\n"}


def test_unknown_method_501(api):
    r = api.req("PATCH", "/version")
    assert r.status_code in (501, 405)
    r = api.delete("/version")
    assert r.status_code == 501 and r.reason == "Method 'DELETE /version' not implemented"


def test_no_such_uri(pvesim):
    r = requests.get(pvesim.url + "/api3/json/version", verify=pvesim.ca_path)
    assert r.status_code == 501 and r.reason == "no such uri"


def test_body_on_delete_rejected(api):
    r = api.delete("/nodes/pve1/qemu/100", data="purge=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 501
    assert r.reason == "Unexpected content for method 'DELETE'"


def test_unknown_param_and_boolean_strings(api):
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "foo": 1, "onboot": "true"})
    assert r.status_code == 400
    assert r.reason == "Parameter verification failed."
    body = r.json()
    assert body["data"] is None and body["message"] == "Parameter verification failed.\n"
    assert body["errors"] == {
        "foo": "property is not defined in schema and the schema does not allow additional properties",
        "onboot": "type check ('boolean') failed - got 'true'"}


def test_json_booleans_accepted(api):
    r = api.post("/nodes/pve1/qemu", json={"vmid": 100, "onboot": True, "scsi0": "local-lvm:1"})
    assert r.status_code == 200, r.text


def test_integer_checks(api):
    r = api.post("/nodes/pve1/qemu", data={"vmid": "abc"})
    assert r.json()["errors"]["vmid"] == "type check ('integer') failed - got 'abc'"
    r = api.post("/nodes/pve1/qemu", data={"vmid": 99})
    assert r.json()["errors"]["vmid"] == "value must have a minimum value of 100"
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "cores": 0})
    assert r.json()["errors"]["cores"] == "value must have a minimum value of 1"


def test_missing_required(api):
    r = api.post("/nodes/pve1/qemu/100/clone", data={})
    assert r.status_code == 400
    assert r.json()["errors"]["newid"] == "property is missing and it is not optional"


def test_enum_and_format_errors(api):
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "ostype": "beos", "name": "not_valid!"})
    errs = r.json()["errors"]
    assert errs["ostype"].startswith("value 'beos' does not have a value in the enumeration 'other, wxp")
    assert errs["name"] == "invalid format - value does not look like a valid DNS name"


def test_property_string_errors(api):
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "net0": "virtio,foo=1"})
    assert r.json()["errors"]["net0"] == "invalid format - invalid key in comma-separated list property: foo"
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "scsi0": "local-lvm:8,cache=bogus"})
    assert r.json()["errors"]["scsi0"].startswith("invalid format - format error\ncache: value 'bogus' does not have")
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "net0": "model=virtio,model=e1000"})
    assert "duplicate key" in r.json()["errors"]["net0"]


def test_named_formats(api):
    r = api.get("/nodes/bad_node!/qemu")
    assert r.status_code in (400, 500)
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "tags": "ok;bad tag!"})
    assert r.status_code == 400 and "tags" in r.json()["errors"]
    r = api.post("/nodes/pve1/qemu", data={"vmid": 100, "net0": "virtio=01:00:00:00:00:01"})
    assert "valid unicast MAC" in r.json()["errors"]["net0"]


def test_query_overrides_body(api):
    r = api.post("/nodes/pve1/qemu?vmid=150", data={"vmid": 151, "scsi0": "local-lvm:1"})
    assert r.status_code == 200
    assert ":qmcreate:150:" in r.json()["data"]


def test_uri_conflict(api):
    r = api.post("/nodes/pve1/qemu/100/status/start", data={"vmid": 101})
    assert r.status_code == 400
    assert r.json()["errors"]["vmid"] == "duplicate parameter (already defined in URI) with conflicting values!"


def test_nextid_is_string(api):
    assert api.ok("GET", "/cluster/nextid") == "100"
    api.create_vm(100)
    assert api.ok("GET", "/cluster/nextid") == "101"
    r = api.get("/cluster/nextid", params={"vmid": 100})
    assert r.status_code == 400 and r.json()["errors"] == {"vmid": "VM 100 already exists"}
    assert api.ok("GET", "/cluster/nextid", params={"vmid": 200}) == "200"


def test_value_types(api):
    api.create_vm(100, onboot=1)
    conf = api.ok("GET", "/nodes/pve1/qemu/100/config")
    assert conf["memory"] == "2048"
    assert conf["cores"] == 2 and conf["onboot"] == 1
    assert len(conf["digest"]) == 40


def test_directory_index(api):
    data = api.ok("GET", "/nodes/pve1")
    assert {"name": "qemu"} in data or {"subdir": "qemu"} in data


def test_raw_reason_phrase_over_socket(pvesim):
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=pvesim.ca_path)
    with socket.create_connection((pvesim.host, pvesim.port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /api2/json/nodes/x/foo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    assert data.startswith(b"HTTP/1.1 501 Method 'GET /nodes/x/foo' not implemented\r\n")
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["data"] is None


def test_extjs_format(pvesim):
    h = pvesim.token_header
    r = requests.get(pvesim.url + "/api2/extjs/nodes/pve1/qemu/100/config", headers=h, verify=pvesim.ca_path)
    assert r.status_code == 200
    assert r.json() == {"success": 0, "data": None, "status": 500,
                        "message": "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist\n"}
    r = requests.get(pvesim.url + "/api2/extjs/version", headers=h, verify=pvesim.ca_path)
    assert r.json()["success"] == 1 and r.json()["data"]["release"] == "9.2"


def test_unsimulated_schema_method_is_501(api):
    r = api.post("/nodes/pve1/qemu/100/monitor", data={"command": "info"})
    assert r.status_code == 501 and r.reason == "Method 'POST /nodes/pve1/qemu/100/monitor' not implemented"


def test_vmid_format_sees_the_raw_value(api):
    # check_prop runs the pve-vmid format on the value as sent: '0100' is an integer but no valid VM ID
    r = api.post("/nodes/pve1/qemu", data={"vmid": "0100"})
    assert r.status_code == 400 and r.json()["errors"] == {"vmid": "invalid format - value does not look like a valid VM ID"}
