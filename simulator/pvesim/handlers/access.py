"""/access: tickets, users, tokens, roles, ACLs, permissions, domains."""

from .. import propstring
from ..model.access import ALL_PRIVS, BUILTIN_ROLES
from ..model.errors import PVEError
from . import route


def _cap(ctx, authid):
    acc = ctx.cluster.access

    def privs(path, prefix):
        have = acc.privs(authid, path)
        return {p: 1 for p in sorted(have) if any(p.startswith(x) for x in prefix)}
    return {"vms": privs("/vms", ("VM.", "Permissions")), "storage": privs("/storage", ("Datastore.", "Permissions")),
            "access": privs("/access", ("User.", "Group.", "Permissions", "Realm")),
            "nodes": privs("/nodes", ("Sys.", "Permissions")), "dc": privs("/", ("Sys.Audit", "SDN.", "Sys.Modify")),
            "sdn": privs("/sdn", ("SDN.",)), "mapping": privs("/mapping", ("Mapping.",))}


@route("POST", "/access/ticket")
def ticket(ctx):
    p = ctx.params
    acc = ctx.cluster.access
    username = p["username"]
    if p.get("realm") and "@" not in username:
        username = "%s@%s" % (username, p["realm"])
    pw = p["password"]
    if pw.startswith("PVE:"):
        good = acc.verify_ticket(pw) == username
    else:
        good = acc.check_password(username, pw)
    if not good:
        raise PVEError("authentication failure", 401)
    if p.get("path") and p.get("privs"):
        privs = propstring.split_list(p["privs"])
        if not all(x in acc.privs(username, p["path"]) for x in privs):
            raise PVEError("authentication failure", 401)
        return {"username": username}
    return {"username": username, "ticket": acc.make_ticket(username), "CSRFPreventionToken": acc.make_csrf(username),
            "cap": _cap(ctx, username), "clustername": ctx.cluster.clustername}


@route("GET", "/access/ticket")
def ticket_get(ctx):
    return None


@route("GET", "/access/domains")
def domains(ctx):
    return [{"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"},
            {"realm": "pve", "type": "pve", "comment": "Proxmox VE authentication server", "default": 0}]


def _user_view(u, full=False):
    d = {k: u[k] for k in ("userid", "comment", "email", "firstname", "lastname") if u.get(k) is not None}
    d["enable"] = int(u.get("enable", 1))
    d["expire"] = int(u.get("expire") or 0)
    d["realm-type"] = u["userid"].split("@", 1)[1]
    if u.get("groups"):
        d["groups"] = ",".join(u["groups"])
    if full:
        d["tokens"] = [dict(_token_view(t), tokenid=n) for n, t in u["tokens"].items()]
    return d


def _token_view(t):
    d = {"privsep": int(t.get("privsep", 1)), "expire": int(t.get("expire") or 0)}
    if t.get("comment"):
        d["comment"] = t["comment"]
    return d


@route("GET", "/access/users")
def users(ctx):
    out = []
    for uid, u in sorted(ctx.cluster.access.users.items()):
        if not (ctx.can("/access/groups", ["User.Modify", "Sys.Audit"], True) or uid == ctx.userid):
            continue
        if ctx.params.get("enabled") is not None and int(u.get("enable", 1)) != ctx.params["enabled"]:
            continue
        out.append(_user_view(u, ctx.params.get("full")))
    return out


def _get_user(ctx, userid):
    u = ctx.cluster.access.users.get(userid)
    if u is None:
        raise PVEError("no such user ('%s')" % userid)
    return u


@route("POST", "/access/users")
def user_create(ctx):
    p = ctx.params
    acc = ctx.cluster.access
    acc.add_user(p["userid"], p.get("password"), p.get("comment"), propstring.split_list(p.get("groups", "")),
                 p.get("enable", 1), p.get("expire", 0), p.get("email"))
    for k in ("firstname", "lastname"):
        if p.get(k):
            acc.users[p["userid"]][k] = p[k]
    return None


@route("GET", "/access/users/{userid}")
def user_get(ctx):
    u = _get_user(ctx, ctx.params["userid"])
    d = _user_view(u)
    d.pop("userid", None)
    d["tokens"] = {n: _token_view(t) for n, t in u["tokens"].items()}
    d["groups"] = list(u.get("groups", []))
    return d


@route("PUT", "/access/users/{userid}")
def user_update(ctx):
    u = _get_user(ctx, ctx.params["userid"])
    p = ctx.params
    for k in ("comment", "email", "firstname", "lastname", "enable", "expire"):
        if k in p:
            u[k] = p[k]
    if "groups" in p:
        groups = propstring.split_list(p["groups"])
        u["groups"] = sorted(set(u.get("groups", [])) | set(groups)) if p.get("append") else groups
    ctx.cluster.access.changed()
    return None


@route("DELETE", "/access/users/{userid}")
def user_delete(ctx):
    acc = ctx.cluster.access
    _get_user(ctx, ctx.params["userid"])
    uid = ctx.params["userid"]
    del acc.users[uid]
    acc.acls = [a for a in acc.acls if a["ugid"] != uid and not a["ugid"].startswith(uid + "!")]
    acc.changed()
    return None


@route("PUT", "/access/password")
def password(ctx):
    u = _get_user(ctx, ctx.params["userid"])
    if ctx.params["userid"] != ctx.userid and not ctx.is_root:
        ctx.check("/access/realm/" + ctx.params["userid"].split("@")[1], ["User.Modify"])
    u["password"] = ctx.params["password"]
    return None


@route("GET", "/access/users/{userid}/token")
def tokens(ctx):
    u = _get_user(ctx, ctx.params["userid"])
    return [dict(_token_view(t), tokenid=n) for n, t in sorted(u["tokens"].items())]


@route("GET", "/access/users/{userid}/token/{tokenid}")
def token_get(ctx):
    u = _get_user(ctx, ctx.params["userid"])
    t = u["tokens"].get(ctx.params["tokenid"])
    if t is None:
        raise PVEError("no such token '%s' for user '%s'" % (ctx.params["tokenid"], ctx.params["userid"]))
    return _token_view(t)


@route("POST", "/access/users/{userid}/token/{tokenid}")
def token_create(ctx):
    p = ctx.params
    _get_user(ctx, p["userid"])
    secret = ctx.cluster.access.add_token(p["userid"], p["tokenid"], privsep=p.get("privsep", 1),
                                          comment=p.get("comment"), expire=p.get("expire", 0))
    t = ctx.cluster.access.users[p["userid"]]["tokens"][p["tokenid"]]
    return {"full-tokenid": "%s!%s" % (p["userid"], p["tokenid"]), "info": _token_view(t), "value": secret}


@route("PUT", "/access/users/{userid}/token/{tokenid}")
def token_update(ctx):
    u = _get_user(ctx, ctx.params["userid"])
    t = u["tokens"].get(ctx.params["tokenid"])
    if t is None:
        raise PVEError("no such token '%s' for user '%s'" % (ctx.params["tokenid"], ctx.params["userid"]))
    for k in ("privsep", "comment", "expire"):
        if k in ctx.params:
            t[k] = ctx.params[k]
    ctx.cluster.access.changed()
    return _token_view(t)


@route("DELETE", "/access/users/{userid}/token/{tokenid}")
def token_delete(ctx):
    u = _get_user(ctx, ctx.params["userid"])
    if u["tokens"].pop(ctx.params["tokenid"], None) is None:
        raise PVEError("no such token '%s' for user '%s'" % (ctx.params["tokenid"], ctx.params["userid"]))
    full = "%s!%s" % (ctx.params["userid"], ctx.params["tokenid"])
    acc = ctx.cluster.access
    acc.acls = [a for a in acc.acls if a["ugid"] != full]
    acc.changed()
    return None


@route("GET", "/access/groups")
def groups(ctx):
    return [{"groupid": g, "comment": v.get("comment"), "users": ",".join(
        u for u, d in ctx.cluster.access.users.items() if g in d.get("groups", []))}
        for g, v in sorted(ctx.cluster.access.groups.items())]


@route("POST", "/access/groups")
def group_create(ctx):
    acc = ctx.cluster.access
    gid = ctx.params["groupid"]
    if gid in acc.groups:
        raise PVEError("group '%s' already exists" % gid)
    acc.groups[gid] = {"comment": ctx.params.get("comment")}
    return None


@route("GET", "/access/roles")
def roles(ctx):
    out = [{"roleid": r, "privs": ",".join(sorted(p)), "special": 1} for r, p in sorted(BUILTIN_ROLES.items())]
    out += [{"roleid": r, "privs": ",".join(sorted(p))} for r, p in sorted(ctx.cluster.access.roles.items())]
    return out


@route("GET", "/access/roles/{roleid}")
def role_get(ctx):
    rid = ctx.params["roleid"]
    privs = BUILTIN_ROLES.get(rid, ctx.cluster.access.roles.get(rid))
    if privs is None:
        raise PVEError("role '%s' does not exist" % rid)
    return {p: 1 for p in privs}


def _privs_param(ctx):
    privs = propstring.split_list(ctx.params.get("privs", ""))
    for p in privs:
        if p not in ALL_PRIVS:
            raise PVEError("Parameter verification failed.", 400, {"privs": "invalid privilege '%s'" % p})
    return privs


@route("POST", "/access/roles")
def role_create(ctx):
    rid = ctx.params["roleid"]
    acc = ctx.cluster.access
    if rid in BUILTIN_ROLES or rid in acc.roles:
        raise PVEError("role '%s' already exists" % rid)
    acc.roles[rid] = _privs_param(ctx)
    acc.changed()
    return None


@route("PUT", "/access/roles/{roleid}")
def role_update(ctx):
    rid = ctx.params["roleid"]
    acc = ctx.cluster.access
    if rid in BUILTIN_ROLES:
        raise PVEError("cannot modify special role '%s'" % rid)
    if rid not in acc.roles:
        raise PVEError("role '%s' does not exist" % rid)
    privs = _privs_param(ctx)
    acc.roles[rid] = sorted(set(acc.roles[rid]) | set(privs)) if ctx.params.get("append") else privs
    acc.changed()
    return None


@route("DELETE", "/access/roles/{roleid}")
def role_delete(ctx):
    rid = ctx.params["roleid"]
    acc = ctx.cluster.access
    if rid in BUILTIN_ROLES:
        raise PVEError("cannot delete special role '%s'" % rid)
    if acc.roles.pop(rid, None) is None:
        raise PVEError("role '%s' does not exist" % rid)
    acc.acls = [a for a in acc.acls if a["roleid"] != rid]
    acc.changed()
    return None


@route("GET", "/access/acl")
def acl(ctx):
    return [dict(a) for a in ctx.cluster.access.acls
            if ctx.can(a["path"], ["Sys.Audit", "Permissions.Modify"], True)]


@route("PUT", "/access/acl")
def acl_update(ctx):
    p = ctx.params
    ctx.cluster.access.set_acl(p["path"], propstring.split_list(p["roles"]), propstring.split_list(p.get("users", "")),
                               propstring.split_list(p.get("groups", "")), propstring.split_list(p.get("tokens", "")),
                               p.get("propagate", 1), bool(p.get("delete")))
    return None


@route("GET", "/access/permissions")
def permissions(ctx):
    authid = ctx.params.get("userid") or ctx.authid
    if authid != ctx.authid:
        ctx.check("/access", ["Sys.Audit"])
    acc = ctx.cluster.access
    paths = [ctx.params["path"]] if ctx.params.get("path") else sorted(
        {"/", "/vms", "/storage", "/nodes", "/access", "/pool"} | {a["path"] for a in acc.acls})
    out = {}
    for path in paths:
        privs = ctx.app.perms.privs(authid, path)
        if privs:
            out[path] = {p: 1 for p in sorted(privs)}
    return out
