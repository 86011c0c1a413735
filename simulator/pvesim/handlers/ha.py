"""/cluster/ha/rules: HA rules (PVE 9). HA resources are in cluster.py."""

from . import route


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
