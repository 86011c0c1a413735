"""pytest fixtures (auto-loaded through the pytest11 entry point) and start_server() for other code.

    def test_x(pvesim):
        requests.get(pvesim.url + "/api2/json/version", verify=pvesim.ca_path, headers=pvesim.token_header)
"""

import json
import ssl
import tempfile
import urllib.request

try:
    import pytest
except ImportError:  # start_server() works without pytest
    pytest = None


class PveSim:
    def __init__(self, running):
        self._running = running
        info = running.info
        self.url = info["url"]
        self.host = info["host"]
        self.port = info["port"]
        self.ca_path = info["ca_path"]
        self.user = info["user"]
        self.password = info["password"]
        self.token_id = info["token_id"]
        self.token_secret = info["token_secret"]
        self.state_dir = running.state_dir
        self._ctx = ssl.create_default_context(cafile=self.ca_path)

    @property
    def token_header(self):
        return {"Authorization": "PVEAPIToken=%s=%s" % (self.token_id, self.token_secret)}

    @property
    def app(self):
        """The in-process App (model access for white-box assertions)."""
        return self._running.app

    def admin(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/_pvesim/" + path.lstrip("/"), data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(req, context=self._ctx, timeout=30) as r:
            return json.loads(r.read().decode())["data"]

    def requests(self, since=None):
        return self.admin("GET", "requests?since=%d" % (since or 0))

    def counters(self):
        return self.admin("GET", "counters")

    def reset_log(self):
        return self.admin("POST", "requests/reset")

    def fault(self, **spec):
        return self.admin("POST", "faults", spec)["id"]

    def clear_faults(self):
        return self.admin("DELETE", "faults")

    def load_scenario(self, scenario):
        return self.admin("POST", "scenario", scenario)

    def reset_state(self):
        return self.admin("POST", "state/reset")

    def advance(self, seconds):
        return self.admin("POST", "clock/advance", {"seconds": seconds})

    def stop(self):
        self._running.stop()


def start_server(state_dir=None, nodes=3, scenario=None, time_scale=0.0, port=0, guests=0):
    """Start pvesim in a background thread of this process; returns a PveSim with .stop()."""
    from .cli import start
    state_dir = state_dir or tempfile.mkdtemp(prefix="pvesim-")
    return PveSim(start(state_dir, nodes=nodes, port=port, scenario=scenario, time_scale=time_scale, guests=guests))


if pytest is not None:
    @pytest.fixture(scope="session")
    def pvesim_server(tmp_path_factory):
        sim = start_server(str(tmp_path_factory.mktemp("pvesim")))
        yield sim
        sim.stop()

    @pytest.fixture
    def pvesim(pvesim_server):
        pvesim_server.clear_faults()
        pvesim_server.reset_state()
        pvesim_server.reset_log()
        return pvesim_server

    @pytest.fixture
    def pvesim_url(pvesim):
        return pvesim.url
