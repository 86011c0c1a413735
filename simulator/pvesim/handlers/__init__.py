"""Endpoint handlers, one module per area. A handler gets a Ctx (validated params, identity, model) and returns data."""

from ..model.errors import PVEError

ROUTES = {}


def route(method, path):
    def deco(fn):
        ROUTES[(method, path)] = fn
        return fn
    return deco


class Result:
    """Data plus extra envelope keys (e.g. total)."""

    def __init__(self, data, **extra):
        self.data = data
        self.extra = extra


class RawJSON:
    """Pre-encoded JSON for the data member (used by hot list endpoints)."""

    def __init__(self, text):
        self.text = text


class Ctx:
    def __init__(self, app, mobj, params, ident, uri):
        self.app = app
        self.cluster = app.cluster
        self.mobj = mobj
        self.params = params
        self.ident = ident
        self.uri = uri

    @property
    def authid(self):
        return self.ident.authid if self.ident else None

    @property
    def userid(self):
        return self.ident.userid if self.ident else None

    @property
    def is_root(self):
        return self.ident is not None and self.ident.userid == "root@pam"

    def check(self, path, privs, any_=False):
        if self.ident is not None:
            self.app.perms.check(self.ident.authid, path, privs, any_)

    def can(self, path, privs, any_=False):
        if self.ident is None:
            return False
        return self.app.perms.has(self.ident.authid, path, privs, any_)

    def guest(self, gtype):
        return self.cluster.get_guest(self.params["vmid"], self.params["node"], gtype)

    def valid_key(self, key):
        return self.mobj.prop(key) is not None

    def with_root(self):
        p = dict(self.params)
        p["_is_root"] = self.is_root
        return p


def fallback(ctx, schema_path):
    """Directory-index GETs are answered from the schema; other unsimulated methods give 501."""
    m = ctx.mobj
    ret = m.info.get("returns") or {}
    if m.method == "GET" and ret.get("type") == "array" and ret.get("links"):
        props = (ret.get("items") or {}).get("properties") or {}
        key = "subdir" if "subdir" in props else ("name" if "name" in props else next(iter(props), "subdir"))
        if ctx.app.schema.is_collection(schema_path):
            return []  # a collection of objects pvesim does not model (firewall rules, backup jobs...): empty
        return [{key: c} for c in ctx.app.schema.children(schema_path)]
    raise PVEError("Method '%s %s' not implemented" % (m.method, getattr(ctx, "api_path", schema_path)), 501)


from . import access, backup, cluster, ha, info, lxc, nodes, pools, qemu, storage, tasks  # noqa: E402,F401
