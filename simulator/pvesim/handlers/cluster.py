"""/cluster and /version: resources, nextid, status (HA is in ha.py)."""

import json

from ..model.errors import param_error
from . import RawJSON, route


@route("GET", "/version")
def version(ctx):
    return dict(ctx.cluster.version_info(), console="xtermjs")


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
                hastate = c.ha_state("%s:%s" % ("vm" if g.type == "qemu" else "ct", g.vmid)) if ha else None
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
