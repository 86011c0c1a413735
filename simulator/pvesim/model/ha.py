"""HA rules (PVE 9): node affinity with node priorities and resource affinity, as pve-ha-manager keeps them.

Facts from pve-ha-manager src/PVE/API2/HA/Rules.pm (the messages, defaults filled in on read, order ordinals,
DELETE of a missing rule succeeding, rules only over configured resources and existing nodes) and
src/PVE/HA/Rules.pm (resources and nodes printed as sorted lists, priorities as NODE:PRIO).
Knows nothing of HTTP; handlers/ha.py calls into it.
"""

import hashlib
import json

from .errors import PVEError, param_error

RULE_KEYS = {"node-affinity": ("resources", "nodes", "strict", "comment", "disable"),
             "resource-affinity": ("resources", "affinity", "comment", "disable")}


def parse_nodes(text):
    """'pve1:2,pve2' -> {'pve1': 2, 'pve2': None}"""
    nodes = {}
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        name, _, prio = part.partition(":")
        if prio and not prio.isdigit():
            raise param_error({"nodes": "invalid format - value '%s' does not look like a valid node list" % text})
        nodes[name] = int(prio) if prio else None
    return nodes


def print_nodes(nodes):
    return ",".join(n if p is None else "%s:%s" % (n, p) for n, p in sorted(nodes.items()))


class HaOps:
    """Mixed into Cluster: the rules config (/etc/pve/ha/rules.cfg)."""

    def rules_digest(self):
        return hashlib.sha1(json.dumps(self.ha_rules, sort_keys=True, default=list).encode()).hexdigest()

    def rule_view(self, ruleid):
        r = self.ha_rules.get(ruleid)
        if r is None:
            raise PVEError("no such ha rule '%s'" % ruleid)
        out = {"rule": ruleid, "type": r["type"], "digest": self.rules_digest(), "order": r["order"],
               "disable": r.get("disable", 0), "resources": ",".join(sorted(r["resources"]))}
        if r["type"] == "node-affinity":
            out["nodes"] = print_nodes(r["nodes"])
            out["strict"] = r.get("strict", 0)
        else:
            out["affinity"] = r["affinity"]
        if r.get("comment"):
            out["comment"] = r["comment"]
        return out

    def rule_list(self, rtype=None, resource=None):
        out = []
        for ruleid, r in sorted(self.ha_rules.items(), key=lambda kv: kv[1]["order"]):
            if rtype and r["type"] != rtype:
                continue
            if resource and resource not in r["resources"]:
                continue
            out.append(self.rule_view(ruleid))
        return out

    def _rule_opts(self, rtype, params, create):
        opts = {}
        allowed = RULE_KEYS[rtype]
        for key in ("resources", "nodes", "strict", "affinity", "comment", "disable"):
            if key in params and key not in allowed:
                raise param_error({key: "property is not defined in schema and the schema does not allow "
                                        "additional properties"})
        if create:
            for key in (("resources", "nodes") if rtype == "node-affinity" else ("resources", "affinity")):
                if key not in params:
                    raise param_error({key: "property is missing and it is not optional"})
        if "resources" in params:
            opts["resources"] = sorted({s.strip() for s in str(params["resources"]).split(",") if s.strip()})
            unmanaged = [s for s in opts["resources"] if s not in self.ha]
            if unmanaged:
                raise PVEError("cannot use unmanaged resource(s) %s." % ", ".join(unmanaged))
        if "nodes" in params:
            opts["nodes"] = parse_nodes(params["nodes"])
            missing = sorted(n for n in opts["nodes"] if n not in self.nodes)
            if missing:
                raise PVEError("cannot use non-existant node(s) %s." % ", ".join(missing))
        for key in ("strict", "disable"):
            if key in params:
                opts[key] = 1 if params[key] in (1, "1", True) else 0
        for key in ("affinity", "comment"):
            if key in params:
                opts[key] = params[key]
        return opts

    def rule_create(self, params):
        ruleid, rtype = params["rule"], params["type"]
        opts = self._rule_opts(rtype, params, True)
        if ruleid in self.ha_rules:
            raise PVEError("HA rule '%s' already defined" % ruleid)
        opts.update(type=rtype, order=max([r["order"] for r in self.ha_rules.values()] or [0]) + 1)
        self.ha_rules[ruleid] = opts
        self.touch()

    def rule_update(self, params):
        ruleid = params["rule"]
        if params.get("digest") and params["digest"] != self.rules_digest():
            raise PVEError("detected modified configuration - file changed by other user? Try again.")
        rule = self.ha_rules.get(ruleid)
        if rule is None:
            raise PVEError("HA rule '%s' does not exist" % ruleid)
        if params.get("type") and params["type"] != rule["type"]:
            raise param_error({"type": "rule type cannot be changed"})
        opts = self._rule_opts(rule["type"], params, False)
        for key in [k for k in str(params.get("delete") or "").split(",") if k]:
            if key in ("resources", "nodes", "affinity"):
                raise param_error({"delete": "unable to delete required option '%s'" % key})
            rule.pop(key, None)
        rule.update(opts)
        self.touch()

    def rule_delete(self, ruleid):
        # Rules.pm deletes without checking that the rule exists
        self.ha_rules.pop(ruleid, None)
        self.touch()

    def ha_apply(self, sid):
        """What the CRM/LRM do with a resource's requested state, at once: 'started' starts the guest, 'stopped'
        and 'disabled' stop it, 'ignored' leaves it alone (pve-ha-manager src/PVE/HA/Manager.pm)."""
        res = self.ha.get(sid)
        g = self.guests.get(int(sid.split(":")[1])) if res else None
        if g is None or g.config.get("lock") or self.nodes[g.node].status != "online":
            return
        state = res.get("state", "started")
        if state == "started" and g.status != "running" and not int(g.config.get("template", 0)):
            self._start(g)
        elif state in ("stopped", "disabled") and g.status == "running":
            self._stop(g)
