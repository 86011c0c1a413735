import pytest
import requests


class Api:
    """Tiny client for the tests: real HTTPS requests against the running pvesim."""

    def __init__(self, sim, headers=None, cookies=None):
        self.sim = sim
        self.base = sim.url + "/api2/json"
        self.s = requests.Session()
        self.s.verify = sim.ca_path
        self.s.headers.update(headers if headers is not None else sim.token_header)
        if cookies:
            self.s.cookies.update(cookies)

    def req(self, method, path, **kw):
        kw.setdefault("verify", self.sim.ca_path)  # a session's verify loses against REQUESTS_CA_BUNDLE
        return self.s.request(method, self.base + path, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, data=None, **kw):
        return self.req("POST", path, data=data, **kw)

    def put(self, path, data=None, **kw):
        return self.req("PUT", path, data=data, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    def ok(self, method, path, **kw):
        r = self.req(method, path, **kw)
        assert r.status_code == 200, (r.status_code, r.reason, r.text)
        return r.json()["data"]

    def task(self, upid, node=None):
        node = node or upid.split(":")[1]
        return self.ok("GET", "/nodes/%s/tasks/%s/status" % (node, upid))

    def log(self, upid):
        return self.ok("GET", "/nodes/%s/tasks/%s/log" % (upid.split(":")[1], upid))

    def run(self, method, path, expect="OK", **kw):
        upid = self.ok(method, path, **kw)
        st = self.task(upid)
        assert st["status"] == "stopped"
        if expect is not None:
            assert st["exitstatus"] == expect, (st, self.log(upid))
        return upid

    def create_vm(self, vmid=100, node="pve1", **conf):
        data = {"vmid": vmid, "name": "vm%d" % vmid, "memory": 2048, "cores": 2,
                "scsi0": "local-lvm:8", "net0": "virtio,bridge=vmbr0"}
        data.update(conf)
        return self.run("POST", "/nodes/%s/qemu" % node, data=data)


@pytest.fixture
def api(pvesim):
    return Api(pvesim)
