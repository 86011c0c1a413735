"""/pools: resource pools (the ?poolid= form and the deprecated /pools/{poolid})."""

from .. import propstring
from ..model.errors import PVEError
from . import route


def _members(ctx, pool):
    c = ctx.cluster
    out = []
    for vmid in pool["vms"]:
        g = c.guests.get(vmid)
        if g is None:
            continue
        d = {"id": "%s/%s" % (g.type, vmid), "vmid": vmid, "node": g.node, "type": g.type, "name": g.name(),
             "status": g.status, "template": int(g.config.get("template", 0))}
        out.append(d)
    for sid in pool.get("storage", []):
        for node in c.nodes:
            if sid in c.storages and c.storages[sid].available_on(node):
                out.append({"id": "storage/%s/%s" % (node, sid), "node": node, "storage": sid, "type": "storage"})
    return out


def _get(ctx, poolid):
    pool = ctx.cluster.pools.get(poolid)
    if pool is None:
        raise PVEError("pool '%s' does not exist" % poolid)
    return pool


@route("GET", "/pools")
def pools(ctx):
    c = ctx.cluster
    pid = ctx.params.get("poolid")
    out = []
    for poolid, pool in sorted(c.pools.items()):
        if pid and poolid != pid:
            continue
        if not ctx.can("/pool/" + poolid, ["Pool.Audit"]):
            continue
        d = {"poolid": poolid}
        if pool.get("comment"):
            d["comment"] = pool["comment"]
        if pid:
            members = _members(ctx, pool)
            typ = ctx.params.get("type")
            if typ:
                members = [m for m in members if m["type"] == typ or (typ == "qemu" and m["type"] == "qemu")]
            d["members"] = members
        out.append(d)
    if pid and not out:
        raise PVEError("pool '%s' does not exist" % pid)
    return out


@route("POST", "/pools")
def pool_create(ctx):
    c = ctx.cluster
    pid = ctx.params["poolid"]
    if pid in c.pools:
        raise PVEError("pool '%s' already exists" % pid)
    if "/" in pid and pid.rsplit("/", 1)[0] not in c.pools:
        raise PVEError("parent pool '%s' does not exist" % pid.rsplit("/", 1)[0])
    c.pools[pid] = {"poolid": pid, "comment": ctx.params.get("comment"), "vms": [], "storage": []}
    c.access.changed()
    return None


def _update(ctx, pid):
    c = ctx.cluster
    pool = _get(ctx, pid)
    p = ctx.params
    if "comment" in p:
        pool["comment"] = p["comment"]
    vms = [int(v) for v in propstring.split_list(p.get("vms", ""))]
    storages = propstring.split_list(p.get("storage", ""))
    if p.get("delete"):
        for vmid in vms:
            if vmid in pool["vms"]:
                c.pool_remove_guest(vmid)
        pool["storage"] = [s for s in pool["storage"] if s not in storages]
    else:
        for vmid in vms:
            g = c.guests.get(vmid)
            if g is None:
                raise PVEError("no such VM ID '%s'" % vmid)
            if g.pool and g.pool != pid:
                if not p.get("allow-move"):
                    raise PVEError("VM %s is already a pool member" % vmid)
                c.pool_remove_guest(vmid)
            ctx.check("/vms/%s" % vmid, ["VM.Allocate"])
            c.pool_add_guest(pid, vmid)
        for sid in storages:
            c.get_storage(sid)
            if sid not in pool["storage"]:
                pool["storage"].append(sid)
    c.access.changed()
    c.touch()
    return None


@route("PUT", "/pools")
def pool_update(ctx):
    return _update(ctx, ctx.params["poolid"])


@route("PUT", "/pools/{poolid}")
def pool_update_old(ctx):
    return _update(ctx, ctx.params["poolid"])


def _delete(ctx, pid):
    c = ctx.cluster
    pool = _get(ctx, pid)
    live = [v for v in pool["vms"] if v in c.guests]
    if live:
        raise PVEError("pool '%s' is not empty (contains VM %s)" % (pid, live[0]))
    if pool["storage"]:
        raise PVEError("pool '%s' is not empty (contains storage %s)" % (pid, pool["storage"][0]))
    if any(k.startswith(pid + "/") for k in c.pools):
        raise PVEError("pool '%s' is not empty (contains child pool)" % pid)
    del c.pools[pid]
    c.access.acls = [a for a in c.access.acls if a["path"] != "/pool/" + pid]
    c.access.changed()
    return None


@route("DELETE", "/pools")
def pool_delete(ctx):
    return _delete(ctx, ctx.params["poolid"])


@route("DELETE", "/pools/{poolid}")
def pool_delete_old(ctx):
    return _delete(ctx, ctx.params["poolid"])


@route("GET", "/pools/{poolid}")
def pool_get_old(ctx):
    pool = _get(ctx, ctx.params["poolid"])
    d = {"members": _members(ctx, pool)}
    if pool.get("comment"):
        d["comment"] = pool["comment"]
    return d
