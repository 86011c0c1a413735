"""/nodes/{node}/lxc: containers."""

from ..model.errors import param_error
from ..model.lxc import modify_perm_checks
from . import guest_perms, route
from .qemu import guest_list, snapshot_config_get, snapshot_config_put, update_config

BASE = "/nodes/{node}/lxc"


@route("GET", BASE)
def lxc_list(ctx):
    return guest_list(ctx, "lxc")


@route("POST", BASE)
def lxc_create(ctx):
    guest_perms.lxc_create(ctx)
    if ctx.params.get("restore"):
        return ctx.cluster.restore("lxc", ctx.params["node"], ctx.params, ctx.authid).upid
    p = ctx.params
    # create_vm runs check_ct_modify_config_perm on the new config (VM.Allocate is already required)
    modify_perm_checks(ctx.authid, p["vmid"], p.get("unprivileged"), None, p, [], True)
    return ctx.cluster.create_guest("lxc", ctx.params["node"], ctx.params, ctx.authid).upid


@route("DELETE", BASE + "/{vmid}")
def lxc_destroy(ctx):
    return ctx.cluster.destroy(ctx.guest("lxc"), ctx.with_root(), ctx.authid).upid


@route("GET", BASE + "/{vmid}/config")
def lxc_config(ctx):
    return ctx.cluster.config_view(ctx.guest("lxc"), ctx.params.get("current"), ctx.params.get("snapshot"))


@route("PUT", BASE + "/{vmid}/config")
def lxc_config_put(ctx):
    return update_config(ctx, "lxc", False)


@route("GET", BASE + "/{vmid}/pending")
def lxc_pending(ctx):
    return ctx.cluster.pending_view(ctx.guest("lxc"))


@route("GET", BASE + "/{vmid}/status/current")
def lxc_status(ctx):
    return ctx.cluster.status_view(ctx.guest("lxc"))


def _power(action):
    def fn(ctx):
        g = ctx.guest("lxc")
        if ctx.params.get("skiplock") and not ctx.is_root:
            raise param_error({"skiplock": "Only root may use this option."})
        return ctx.cluster.power(g, action, ctx.params, ctx.authid).upid
    return fn


for _a in ("start", "stop", "shutdown", "reboot", "suspend", "resume"):
    route("POST", BASE + "/{vmid}/status/" + _a)(_power(_a))


@route("POST", BASE + "/{vmid}/clone")
def lxc_clone(ctx):
    p = ctx.params
    if p.get("pool"):
        ctx.check("/pool/" + p["pool"], ["VM.Allocate"])
    else:
        ctx.check("/vms/%s" % p["newid"], ["VM.Allocate"])
    return ctx.cluster.clone(ctx.guest("lxc"), p, ctx.authid).upid


@route("POST", BASE + "/{vmid}/template")
def lxc_template(ctx):
    ctx.cluster.make_template(ctx.guest("lxc"), ctx.params, ctx.authid)
    return None


@route("PUT", BASE + "/{vmid}/resize")
def lxc_resize(ctx):
    return ctx.cluster.resize(ctx.guest("lxc"), ctx.with_root(), ctx.authid).upid


@route("GET", BASE + "/{vmid}/snapshot")
def lxc_snapshots(ctx):
    return ctx.cluster.snapshot_list(ctx.guest("lxc"))


@route("POST", BASE + "/{vmid}/snapshot")
def lxc_snapshot_create(ctx):
    return ctx.cluster.snapshot_create(ctx.guest("lxc"), ctx.params, ctx.authid).upid


@route("DELETE", BASE + "/{vmid}/snapshot/{snapname}")
def lxc_snapshot_delete(ctx):
    return ctx.cluster.snapshot_delete(ctx.guest("lxc"), ctx.params["snapname"], ctx.params, ctx.authid).upid


@route("POST", BASE + "/{vmid}/snapshot/{snapname}/rollback")
def lxc_snapshot_rollback(ctx):
    return ctx.cluster.snapshot_rollback(ctx.guest("lxc"), ctx.params["snapname"], ctx.params, ctx.authid).upid


route("GET", BASE + "/{vmid}/snapshot/{snapname}/config")(lambda ctx: snapshot_config_get(ctx, "lxc"))
route("PUT", BASE + "/{vmid}/snapshot/{snapname}/config")(lambda ctx: snapshot_config_put(ctx, "lxc"))


@route("POST", BASE + "/{vmid}/migrate")
def lxc_migrate(ctx):
    return ctx.cluster.migrate(ctx.guest("lxc"), ctx.params, ctx.authid).upid


@route("GET", BASE + "/{vmid}/interfaces")
def lxc_interfaces(ctx):
    return ctx.cluster.lxc_interfaces(ctx.guest("lxc"))


@route("POST", BASE + "/{vmid}/move_volume")
def lxc_move_volume(ctx):
    ctx.check("/storage/" + ctx.params.get("storage", ""), ["Datastore.AllocateSpace"])
    return ctx.cluster.move_disk(ctx.guest("lxc"), ctx.params, ctx.authid).upid


@route("GET", BASE + "/{vmid}/feature")
def lxc_feature(ctx):
    return ctx.cluster.has_feature(ctx.guest("lxc"), ctx.params["feature"], ctx.params.get("snapname"))


@route("GET", BASE + "/{vmid}/migrate")
def lxc_migrate_pre(ctx):
    # pve-container migrate_vm_precondition (PVE 9): running state and the HA view; pvesim has no HA rules,
    # so every other online node is allowed
    c = ctx.cluster
    g = ctx.guest("lxc")
    nodes = [n for n, node in c.nodes.items() if n != g.node and node.status == "online"]
    return {"running": 1 if g.status == "running" else 0, "allowed-nodes": nodes, "not-allowed-nodes": {},
            "dependent-ha-resources": []}
