"""/cluster and /version: resources, nextid, status, HA resources."""

import json

from ..model.errors import PVEError, param_error
from . import RawJSON, route


@route("GET", "/version")
def version(ctx):
    return {"version": "9.2.2", "release": "9.2", "repoid": "c0ffee42", "console": "xtermjs"}


def _node_entry(c, node, usage):
    online = node.status == "online"
    mem, cpu = usage[node.name]
    return {"id": "node/%s" % node.name, "type": "node", "node": node.name, "status": node.status,
            "maxcpu": node.maxcpu, "cpu": cpu if online else 0, "maxmem": node.maxmem,
            "mem": mem if online else 0, "maxdisk": 100 * 1024 ** 3, "disk": 10 * 1024 ** 3,
            "uptime": int(c.clock.now() - node.boot) if online else 0, "level": "", "cgroup-mode": 2,
            "host-arch": "x86_64"}


@route("GET", "/cluster/resources")
def resources(ctx):
    c = ctx.cluster
    typ = ctx.params.get("type")
    parts = []
    now = c.clock.now()
    authid = ctx.authid
    root = ctx.app.perms.cluster.access.is_root(authid)
    if typ in (None, "node"):
        usage = c.node_usage()
        for node in c.nodes.values():
            if root or ctx.can("/nodes/" + node.name, ["Sys.Audit"]):
                parts.append(json.dumps(_node_entry(c, node, usage)))
    if typ in (None, "vm"):
        nodestat = {n: node.status for n, node in c.nodes.items()}
        ha = c.ha
        for g in c.guests.values():
            if root or ctx.can("/vms/%s" % g.vmid, ["VM.Audit"]):
                hastate = None
                if ha:
                    hastate = ha.get("%s:%s" % ("vm" if g.type == "qemu" else "ct", g.vmid), {}).get("state")
                parts.append(g.summary(now, nodestat.get(g.node, "unknown"), hastate))
    if typ in (None, "storage"):
        for node in c.nodes:
            for sid, st in c.storages.items():
                if not st.available_on(node):
                    continue
                if not (root or ctx.can("/storage/" + sid, ["Datastore.Audit", "Datastore.AllocateSpace"], True)):
                    continue
                s = c.storage_status(sid, node)
                online = c.nodes[node].status == "online"
                parts.append(json.dumps({"id": "storage/%s/%s" % (node, sid), "type": "storage", "node": node,
                                         "storage": sid, "plugintype": st.type, "content": s["content"],
                                         "shared": st.shared, "status": "available" if online else "unknown",
                                         "maxdisk": st.total, "disk": s["used"]}))
    if typ is None:
        for pid, pool in c.pools.items():
            if root or ctx.can("/pool/" + pid, ["Pool.Audit"]):
                parts.append(json.dumps({"id": "/pool/%s" % pid, "type": "pool", "pool": pid}))
    return RawJSON("[" + ",".join(parts) + "]")


@route("GET", "/cluster/nextid")
def nextid(ctx):
    c = ctx.cluster
    if ctx.params.get("vmid") is not None:
        vmid = int(ctx.params["vmid"])
        if vmid in c.guests:
            raise param_error({"vmid": "VM %s already exists" % vmid})
        return str(vmid)
    return str(c.nextid())


@route("GET", "/cluster/status")
def status(ctx):
    c = ctx.cluster
    out = [{"type": "cluster", "id": "cluster", "name": c.clustername, "nodes": len(c.nodes), "quorate": 1,
            "version": len(c.nodes) + 2}]
    for node in c.nodes.values():
        out.append({"type": "node", "id": "node/%s" % node.name, "name": node.name, "nodeid": node.index,
                    "ip": "127.0.0.%d" % node.index, "local": 1 if node.index == 1 else 0,
                    "online": 1 if node.status == "online" else 0, "level": ""})
    return out


def _ha_sid(c, sid):
    if ":" in sid:
        return sid
    g = c.guests.get(int(sid)) if sid.isdigit() else None
    if g is None:
        raise PVEError("unable to detect SID from VMID - VM/CT %s does not exist" % sid)
    return "%s:%s" % ("vm" if g.type == "qemu" else "ct", sid)


def _ha_digest(c):
    import hashlib
    return hashlib.sha1(json.dumps(c.ha, sort_keys=True).encode()).hexdigest()


def _ha_view(c, sid):
    # read_and_check_resources_config fills in the defaults of state, max_restart, max_relocate and failback
    entry = dict(c.ha[sid], sid=sid, digest=_ha_digest(c))
    entry.setdefault("state", "started")
    for key, default in (("max_restart", 1), ("max_relocate", 1), ("failback", 1)):
        entry.setdefault(key, default)
    return entry


@route("GET", "/cluster/ha/resources")
def ha_list(ctx):
    c = ctx.cluster
    typ = ctx.params.get("type")
    return [_ha_view(c, k) for k, v in sorted(c.ha.items()) if typ is None or v["type"] == typ]


@route("POST", "/cluster/ha/resources")
def ha_create(ctx):
    c = ctx.cluster
    p = ctx.params
    if p.get("group"):
        raise param_error({"group": "invalid parameter 'group': ha groups have been migrated to rules"})
    sid = _ha_sid(c, p["sid"])
    if sid in c.ha:
        raise PVEError("resource ID '%s' already defined" % sid)
    vmid = int(sid.split(":")[1])
    if vmid not in c.guests:
        raise PVEError("unable to detect SID from VMID - VM/CT %s does not exist" % vmid)
    # 'enabled' is an alias of 'started' (PVE::HA::Config::read_and_check_resources_config)
    entry = {"type": sid.split(":")[0], "state": {"enabled": "started"}.get(p.get("state"), p.get("state", "started"))}
    for k in ("max_restart", "max_relocate", "comment", "failback"):
        if k in p:
            entry[k] = p[k]
    c.ha[sid] = entry
    c.guests[vmid].changed()
    c.ha_apply(sid)
    return None


@route("GET", "/cluster/ha/resources/{sid}")
def ha_get(ctx):
    c = ctx.cluster
    sid = _ha_sid(c, ctx.params["sid"])
    if sid not in c.ha:
        raise PVEError("no such resource '%s'" % sid)
    return _ha_view(c, sid)


@route("PUT", "/cluster/ha/resources/{sid}")
def ha_update(ctx):
    c = ctx.cluster
    sid = _ha_sid(c, ctx.params["sid"])
    if sid not in c.ha:
        raise PVEError("no such resource '%s'" % sid)
    if ctx.params.get("digest") and ctx.params["digest"] != _ha_digest(c):
        raise PVEError("detected modified configuration - file changed by other user? Try again.")
    for k in ("state", "max_restart", "max_relocate", "comment", "failback"):
        if k in ctx.params:
            c.ha[sid][k] = "started" if k == "state" and ctx.params[k] == "enabled" else ctx.params[k]
    for k in (ctx.params.get("delete") or "").split(","):
        c.ha[sid].pop(k, None)
    c.ha_apply(sid)
    return None


@route("DELETE", "/cluster/ha/resources/{sid}")
def ha_delete(ctx):
    c = ctx.cluster
    sid = _ha_sid(c, ctx.params["sid"])
    if c.ha.pop(sid, None) is None:
        raise PVEError("no such resource '%s'" % sid)
    return None
