"""/cluster/ha: resources, rules (PVE 9), groups (PVE 8) and the manager's status; the model is model/ha.py."""

from ..model.errors import PVEError
from . import route


def groups(ctx):
    """The model, on PVE 8; PVE 9 has migrated groups.cfg to rules (unserved.py lists the paths)."""
    if ctx.cluster.pve_major != "8":
        raise PVEError("Method '%s %s' not implemented" % (ctx.mobj.method, ctx.api_path), 501)
    return ctx.cluster


@route("GET", "/cluster/ha/resources")
def resources_list(ctx):
    return ctx.cluster.resource_list(ctx.params.get("type"))


@route("POST", "/cluster/ha/resources")
def resource_create(ctx):
    ctx.cluster.resource_create(ctx.params)


@route("GET", "/cluster/ha/resources/{sid}")
def resource_get(ctx):
    c = ctx.cluster
    return c.resource_view(c.ha_sid(ctx.params["sid"]))


@route("PUT", "/cluster/ha/resources/{sid}")
def resource_update(ctx):
    ctx.cluster.resource_update(ctx.params)


@route("DELETE", "/cluster/ha/resources/{sid}")
def resource_delete(ctx):
    ctx.cluster.resource_delete(ctx.params["sid"])


@route("GET", "/cluster/ha/rules")
def rules_list(ctx):
    return ctx.cluster.rule_list(ctx.params.get("type"), ctx.params.get("resource"))


@route("POST", "/cluster/ha/rules")
def rule_create(ctx):
    ctx.cluster.rule_create(ctx.params)


@route("GET", "/cluster/ha/rules/{rule}")
def rule_get(ctx):
    return ctx.cluster.rule_view(ctx.params["rule"])


@route("PUT", "/cluster/ha/rules/{rule}")
def rule_update(ctx):
    ctx.cluster.rule_update(ctx.params)


@route("DELETE", "/cluster/ha/rules/{rule}")
def rule_delete(ctx):
    ctx.cluster.rule_delete(ctx.params["rule"])


@route("GET", "/cluster/ha/groups")
def groups_list(ctx):
    if ctx.cluster.pve_major != "8":
        return []  # PVE 9 after the migration: groups.cfg is gone
    return groups(ctx).group_list()


@route("POST", "/cluster/ha/groups")
def group_create(ctx):
    groups(ctx).group_create(ctx.params)


@route("GET", "/cluster/ha/groups/{group}")
def group_get(ctx):
    return groups(ctx).group_view(ctx.params["group"])


@route("PUT", "/cluster/ha/groups/{group}")
def group_update(ctx):
    groups(ctx).group_update(ctx.params)


@route("DELETE", "/cluster/ha/groups/{group}")
def group_delete(ctx):
    groups(ctx).group_delete(ctx.params["group"])


@route("GET", "/cluster/ha/status/current")
def status_current(ctx):
    return ctx.cluster.ha_status_current()
