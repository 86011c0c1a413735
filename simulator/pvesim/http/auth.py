"""Authentication (tickets, CSRF, API tokens) and evaluation of the schema's permission checks."""

import re
import urllib.parse

from ..model.errors import PVEError

TOKEN_RE = re.compile(r"(?:^|\s)PVEAPIToken(?:=| )([^;]*)")


class Identity:
    __slots__ = ("authid", "userid", "method")

    def __init__(self, authid, method):
        self.authid = authid
        self.userid = authid.split("!", 1)[0]
        self.method = method


def _cookie(headers, name):
    raw = headers.get("Cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return urllib.parse.unquote(v)
    return None


def authenticate(access, headers, http_method, csrf_exempt=False):
    """Return an Identity, None (no credentials) or raise PVEError(401)."""
    ticket = _cookie(headers, "PVEAuthCookie")
    authz = headers.get("Authorization") or ""
    if ticket is None and authz.startswith("PVEAuthCookie="):
        ticket = urllib.parse.unquote(authz[len("PVEAuthCookie="):])
    if ticket is not None:
        userid = access.verify_ticket(ticket)
        if userid is None:
            raise PVEError("Authentication failed!", 401)
        if http_method != "GET" and not csrf_exempt:
            token = headers.get("CSRFPreventionToken")
            if not token or not access.verify_csrf(userid, token):
                raise PVEError("Permission denied - invalid csrf token", 401)
        return Identity(userid, "ticket")
    m = TOKEN_RE.search(authz)
    if m:
        tokenid = access.verify_token(m.group(1).strip())
        if tokenid is None:
            raise PVEError("Authentication failed!", 401)
        return Identity(tokenid, "token")
    return None


def _subst(path, params):
    def rep(m):
        v = params.get(m.group(1))
        return str(v) if v is not None else m.group(0)
    return re.sub(r"\{([^}]+)\}", rep, path)


class PermChecker:
    def __init__(self, cluster):
        self.cluster = cluster

    def pool_of(self, path):
        m = re.match(r"^/vms/(\d+)$", path)
        if m:
            g = self.cluster.guests.get(int(m.group(1)))
            if g is not None:
                return g.pool
        return None

    def privs(self, authid, path):
        return self.cluster.access.privs(authid, path, self.pool_of(path))

    def has(self, authid, path, privs, any_=False):
        have = self.privs(authid, path)
        if any_:
            return any(p in have for p in privs)
        return all(p in have for p in privs)

    def check(self, authid, path, privs, any_=False):
        have = self.privs(authid, path)
        if any_:
            if not any(p in have for p in privs):
                raise PVEError("Permission check failed (%s, %s)" % (path, "|".join(privs)), 403)
            return
        for p in privs:
            if p not in have:
                raise PVEError("Permission check failed (%s, %s)" % (path, p), 403)

    def evaluate(self, authid, perms, params):
        """Evaluate a method's `permissions` (raises PVEError 403)."""
        if perms is None:
            if authid != "root@pam" and not (authid.startswith("root@pam!") and self.cluster.access.is_root(authid)):
                raise PVEError("Permission check failed (user != root@pam)", 403)
            return
        if perms.get("user") in ("all", "world"):
            return
        check = perms.get("check")
        if check and not self._eval(authid, check, params):
            raise PVEError("Permission check failed", 403)

    def _eval(self, authid, check, params):
        kind = check[0]
        if kind == "perm":
            path = _subst(check[1], params)
            privs = check[2]
            opts = check[3:]
            any_ = False
            for i in range(0, len(opts) - 1, 2):
                if opts[i] == "any" and opts[i + 1]:
                    any_ = True
                if opts[i] == "require_param" and params.get(opts[i + 1]) is None:
                    return False  # this alternative only counts when the parameter is given
            self.check(authid, path, privs, any_)
            return True
        if kind == "and":
            return all(self._eval(authid, c, params) for c in check[1:])
        if kind == "or":
            for c in check[1:]:
                try:
                    if self._eval(authid, c, params):
                        return True
                except PVEError:
                    continue
            return False
        if kind == "userid-param":
            if check[1] == "self":
                return params.get("userid") == authid.split("!", 1)[0]
            self.check(authid, "/access/realm", [check[1]] if isinstance(check[1], str) else check[1], True)
            return True
        if kind == "userid-group":
            if params.get("userid") and params.get("userid") == authid.split("!", 1)[0]:
                return True
            self.check(authid, "/access/groups", check[1], True)
            return True
        if kind == "perm-modify":
            path = _subst(check[1], params)
            self.check(authid, path, ["Permissions.Modify"])
            return True
        return True
