"""Users, tokens, roles, ACLs, tickets and the permission engine (pve-access-control semantics)."""

import base64
import hashlib
import hmac
import os
import uuid

from .errors import PVEError

VM_ADMIN = ["VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone", "VM.Config.CDROM", "VM.Config.CPU",
            "VM.Config.Cloudinit", "VM.Config.Disk", "VM.Config.HWType", "VM.Config.Memory", "VM.Config.Network",
            "VM.Config.Options", "VM.Console", "VM.GuestAgent.Audit", "VM.GuestAgent.FileRead",
            "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite", "VM.GuestAgent.Unrestricted", "VM.Migrate",
            "VM.PowerMgmt", "VM.Replicate", "VM.Snapshot", "VM.Snapshot.Rollback"]
BUILTIN_ROLES = {
    "NoAccess": [],
    "PVEVMAdmin": VM_ADMIN,
    "PVEVMUser": ["VM.Audit", "VM.Backup", "VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console",
                  "VM.GuestAgent.Audit", "VM.PowerMgmt"],
    "PVEAuditor": ["Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit",
                   "VM.GuestAgent.Audit"],
    "PVEDatastoreAdmin": ["Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit"],
    "PVEDatastoreUser": ["Datastore.AllocateSpace", "Datastore.Audit"],
    "PVEPoolAdmin": ["Pool.Allocate", "Pool.Audit"],
    "PVEPoolUser": ["Pool.Audit"],
    "PVETemplateUser": ["VM.Audit", "VM.Clone"],
    "PVEUserAdmin": ["Group.Allocate", "Realm.AllocateUser", "User.Modify"],
    "PVESysAdmin": ["Permissions.Modify", "Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Incoming",
                    "Sys.Modify", "Sys.PowerMgmt", "Sys.Syslog"],
    "PVESDNUser": ["SDN.Audit", "SDN.Use"],
    "PVESDNAdmin": ["SDN.Allocate", "SDN.Audit", "SDN.Use"],
    "PVEMappingUser": ["Mapping.Audit", "Mapping.Use"],
    "PVEMappingAdmin": ["Mapping.Audit", "Mapping.Modify", "Mapping.Use"],
}
ALL_PRIVS = sorted(set(p for v in BUILTIN_ROLES.values() for p in v) | {
    "Realm.Allocate", "Pool.Allocate", "Datastore.Allocate", "SDN.Allocate", "Group.Allocate"})
BUILTIN_ROLES["Administrator"] = ALL_PRIVS
_NOT_PVEADMIN = ("Sys.PowerMgmt", "Sys.Modify", "Realm.Allocate", "Permissions.Modify")
BUILTIN_ROLES["PVEAdmin"] = [p for p in ALL_PRIVS if p not in _NOT_PVEADMIN]

TICKET_LIFETIME = 7200


class Access:
    def __init__(self, clock):
        self.clock = clock
        self.key = os.urandom(32)
        self.users = {}
        self.groups = {}
        self.acls = []  # dicts: path, ugid, type (user|group|token), roleid, propagate
        self.roles = {}
        self._cache = {}

    # --- state -----------------------------------------------------------
    def to_dict(self):
        return {"users": self.users, "groups": self.groups, "acls": self.acls, "roles": self.roles,
                "key": base64.b64encode(self.key).decode()}

    def load(self, d):
        self.users = d.get("users", {})
        self.groups = d.get("groups", {})
        self.acls = d.get("acls", [])
        self.roles = d.get("roles", {})
        if d.get("key"):
            self.key = base64.b64decode(d["key"])
        self._cache = {}

    def changed(self):
        self._cache = {}

    def add_user(self, userid, password=None, comment=None, groups=(), enable=1, expire=0, email=None):
        if "@" not in userid:
            raise PVEError("invalid user ID '%s'" % userid, 400)
        if userid in self.users:
            raise PVEError("create user failed: user '%s' already exists" % userid)
        self.users[userid] = {"userid": userid, "password": password, "comment": comment, "enable": enable,
                              "expire": expire, "email": email, "groups": list(groups), "tokens": {}}
        self.changed()

    def add_token(self, userid, tokenid, secret=None, privsep=1, comment=None, expire=0):
        user = self.users.get(userid)
        if user is None:
            raise PVEError("no such user ('%s')" % userid)
        if tokenid in user["tokens"]:
            raise PVEError("Token already exists.")
        secret = secret or str(uuid.uuid4())
        user["tokens"][tokenid] = {"secret": secret, "privsep": int(privsep), "comment": comment, "expire": expire}
        self.changed()
        return secret

    def set_acl(self, path, roles, users=(), groups=(), tokens=(), propagate=1, delete=False):
        for role in roles:
            if role not in BUILTIN_ROLES and role not in self.roles:
                raise PVEError("role '%s' does not exist" % role)
        for kind, ids in (("user", users), ("group", groups), ("token", tokens)):
            for ugid in ids:
                if kind == "user" and ugid not in self.users:
                    raise PVEError("user '%s' does not exist" % ugid)
                if kind == "token":
                    u, _, t = ugid.partition("!")
                    if t not in self.users.get(u, {}).get("tokens", {}):
                        raise PVEError("no such token '%s' for user '%s'" % (t, u))
                for role in roles:
                    self.acls = [a for a in self.acls if not (a["path"] == path and a["ugid"] == ugid
                                                              and a["type"] == kind and a["roleid"] == role)]
                    if not delete:
                        self.acls.append({"path": path, "ugid": ugid, "type": kind, "roleid": role,
                                          "propagate": int(propagate)})
        self.changed()

    # --- authentication ---------------------------------------------------
    def _sign(self, data):
        return base64.b64encode(hmac.new(self.key, data.encode(), hashlib.sha256).digest()).decode().rstrip("=")

    def check_password(self, userid, password):
        user = self.users.get(userid)
        if not user or not user.get("enable", 1) or user.get("password") is None:
            return False
        if user.get("expire") and user["expire"] < self.clock.now():
            return False
        return hmac.compare_digest(str(user["password"]), str(password))

    def make_ticket(self, userid):
        data = "PVE:%s:%08X" % (userid, int(self.clock.now()))
        return "%s::%s" % (data, self._sign(data))

    def verify_ticket(self, ticket):
        """Return the userid of a valid ticket or None."""
        try:
            data, sig = ticket.rsplit("::", 1)
            prefix, userid, ts = data.split(":")
        except ValueError:
            return None
        if prefix != "PVE" or not hmac.compare_digest(self._sign(data), sig):
            return None
        age = self.clock.now() - int(ts, 16)
        if age > TICKET_LIFETIME or age < -300:
            return None
        user = self.users.get(userid)
        if not user or not user.get("enable", 1):
            return None
        return userid

    def make_csrf(self, userid):
        ts = "%08X" % int(self.clock.now())
        return "%s:%s" % (ts, self._sign("%s:%s" % (ts, userid)))

    def verify_csrf(self, userid, token):
        try:
            ts, sig = token.split(":", 1)
            age = self.clock.now() - int(ts, 16)
        except ValueError:
            return False
        return hmac.compare_digest(self._sign("%s:%s" % (ts, userid)), sig) and -300 < age < TICKET_LIFETIME

    def verify_token(self, value):
        """value is 'user@realm!id=secret' (split at the last '='); return the token id or None."""
        if "=" not in value:
            return None
        tokenid, secret = value.rsplit("=", 1)
        user, _, name = tokenid.partition("!")
        u = self.users.get(user)
        tok = (u or {}).get("tokens", {}).get(name)
        if not tok or not u.get("enable", 1) or not hmac.compare_digest(tok["secret"], secret):
            return None
        if tok.get("expire") and tok["expire"] < self.clock.now():
            return None
        return tokenid

    # --- permissions ------------------------------------------------------
    def role_privs(self, role):
        if role in BUILTIN_ROLES:
            return BUILTIN_ROLES[role]
        return self.roles.get(role, [])

    def _subject_privs(self, subjects, path):
        """subjects: list of (type, id) in priority order (user/token first, then groups)."""
        levels = ["/"]
        parts = [p for p in path.split("/") if p]
        for i in range(len(parts)):
            levels.append("/" + "/".join(parts[:i + 1]))
        privs = set()
        for level in levels:
            exact = level == levels[-1]
            primary, grp = None, None
            for a in self.acls:
                if a["path"] != level or (not exact and not a["propagate"]):
                    continue
                if (a["type"], a["ugid"]) == subjects[0]:
                    primary = (primary or set()) | set(self.role_privs(a["roleid"]))
                elif (a["type"], a["ugid"]) in subjects[1:]:
                    grp = (grp or set()) | set(self.role_privs(a["roleid"]))
            if primary is not None:
                privs = primary
            elif grp is not None:
                privs = grp
        return privs

    def privs(self, authid, path, pool=None):
        key = (authid, path, pool)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        userid = authid.split("!", 1)[0]
        if userid == "root@pam":
            res = set(ALL_PRIVS)
            if "!" in authid:
                tok = self.users.get(userid, {}).get("tokens", {}).get(authid.split("!", 1)[1], {})
                if tok.get("privsep", 1):
                    res = self._token_privs(authid, path, pool)
            self._cache[key] = res
            return res
        user = self.users.get(userid, {})
        subjects = [("user", userid)] + [("group", g) for g in user.get("groups", [])]
        res = self._subject_privs(subjects, path)
        if pool:
            res = res | self._subject_privs(subjects, "/pool/" + pool)
        if "!" in authid:
            tok = user.get("tokens", {}).get(authid.split("!", 1)[1], {})
            if tok.get("privsep", 1):
                res = res & self._token_privs(authid, path, pool)
        self._cache[key] = res
        return res

    def _token_privs(self, authid, path, pool):
        res = self._subject_privs([("token", authid)], path)
        if pool:
            res = res | self._subject_privs([("token", authid)], "/pool/" + pool)
        return res

    def is_root(self, authid):
        return authid == "root@pam" or (authid.startswith("root@pam!") and not self.users.get(
            "root@pam", {}).get("tokens", {}).get(authid.split("!", 1)[1], {}).get("privsep", 1))
