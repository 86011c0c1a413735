"""/nodes/{node}/vzdump (backups); restores are POST /nodes/{node}/qemu with archive and lxc with restore=1."""

from . import guest_perms, route


@route("POST", "/nodes/{node}/vzdump")
def vzdump(ctx):
    guest_perms.vzdump(ctx)
    upid = ctx.cluster.vzdump(ctx.params["node"], ctx.params, ctx.authid)
    # VZDump.pm answers a plain 'OK' when none of the guests is on this node
    return "OK" if upid is None else upid.upid
