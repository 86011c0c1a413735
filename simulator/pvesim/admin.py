"""The /_pvesim/ admin API (loopback, no auth): request log, counters, faults, state, clock, scenarios."""

import json
import re
import urllib.parse

import yaml

from .http.server import Response, error, ok


def _body(body):
    if not body:
        return {}
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:
        return yaml.safe_load(body.decode("utf-8")) or {}


def handle(app, method, path, query, body):
    try:
        return _handle(app, method, path, urllib.parse.parse_qs(query), body)
    except (ValueError, KeyError, TypeError) as exc:
        return error(400, "pvesim admin: %s" % exc)
    except Exception as exc:  # noqa: BLE001 - admin errors are reported, never fatal
        msg = getattr(exc, "message", None) or str(exc)
        return error(400, "pvesim admin: %s" % msg)


def _handle(app, method, path, q, body):
    c = app.cluster
    route = (method, path.rstrip("/"))
    if route == ("GET", "/_pvesim/requests"):
        since = int(q.get("since", ["0"])[0] or 0)
        return ok(app.log.since(since))
    if route == ("GET", "/_pvesim/counters"):
        return ok(app.log.counter_view())
    if route == ("POST", "/_pvesim/requests/reset"):
        app.log.reset()
        return ok(None)
    if route == ("POST", "/_pvesim/faults"):
        return ok({"id": app.faults.add(_body(body))})
    if route == ("GET", "/_pvesim/faults"):
        return ok(app.faults.list())
    if route == ("DELETE", "/_pvesim/faults"):
        app.faults.clear()
        return ok(None)
    if route == ("POST", "/_pvesim/state/reset"):
        app.faults.clear()
        with c.lock:
            secret = c.root_token_secret
            c.nodes_count = c.initial_nodes
            c.reset()
            _keep_root_secret(c, secret)
            app.rewire()
        return ok(None)
    if route == ("POST", "/_pvesim/state/save"):
        data = c.dump()
        spec = _body(body)
        if spec.get("path"):
            with open(spec["path"], "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            return ok({"path": spec["path"]})
        return ok(data)
    if route == ("POST", "/_pvesim/state/load"):
        spec = _body(body)
        if spec.get("path"):
            with open(spec["path"], encoding="utf-8") as fh:
                spec = json.load(fh)
        c.load_dict(spec.get("state", spec))
        app.rewire()
        return ok(None)
    if route == ("GET", "/_pvesim/state"):
        return ok(c.dump())
    if route == ("POST", "/_pvesim/scenario"):
        sc = _body(body)
        app.faults.clear()
        secret = c.root_token_secret
        c.load_scenario(sc)
        _keep_root_secret(c, secret)
        app.rewire()
        return ok(None)
    if route == ("POST", "/_pvesim/clock/advance"):
        with c.lock:
            c.clock.advance(float(_body(body).get("seconds", 0)))
            c.tick()
        return ok({"now": c.clock.now()})
    if route == ("GET", "/_pvesim/connection"):
        return ok(app.connection)
    m = re.match(r"^/_pvesim/guests/(\d+)/agent$", path)
    if m and method == "POST":
        with c.lock:
            g = c.guests.get(int(m.group(1)))
            if g is None:
                return error(404, "no such guest")
            ready = _body(body).get("ready")
            g.agent_ready = None if ready is None else bool(ready)
        return ok(None)
    return Response(404, "Not Found", b'{"data":null,"message":"no such pvesim admin endpoint\\n"}')


def _keep_root_secret(c, secret):
    """connection.json stays valid across resets: keep the root token secret."""
    c.root_token_secret = secret
    c.access.users["root@pam"]["tokens"]["pvesim"]["secret"] = secret
