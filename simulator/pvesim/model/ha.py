"""HA as pve-ha-manager keeps it: resources, PVE 9 rules, PVE 8 groups, and the CRM's recovery of a dead node.

Facts from pve-ha-manager:
* src/PVE/API2/HA/Resources.pm, Rules.pm, Groups.pm: the messages, defaults filled in on read, rule order
  ordinals, DELETE of a missing rule or group succeeding, rules only over configured resources and existing
  nodes, a group not deletable while a resource uses it; src/PVE/HA/Rules.pm: resources and nodes printed as
  sorted lists, priorities as NODE:PRIO.
* src/PVE/HA/Manager.pm and NodeStatus.pm: a node that stops answering is 'unknown'; after $fence_delay (60 s)
  its services in 'started' or 'stopped' (not 'disabled', not 'ignored') go to 'fence' and the node to 'fence';
  the node counts as fenced once the CRM gets its HA agent lock, which pmxcfs frees 120 s after the dead node
  last renewed it; then each service goes to 'recovery' and select_service_node('best-score') picks the
  online node of the highest priority in its node affinity rule (PVE 9) or group (PVE 8) - others too when
  the rule is not strict / the group not restricted - with the fewest HA services, then by name; the config
  moves there (steal_service) and the service is 'started' (or 'request_stop' -> 'stopped'). Without a node it
  stays in 'recovery' and is retried.
Knows nothing of HTTP; handlers/ha.py calls into it.
"""

import hashlib
import json

from .errors import PVEError, param_error

FENCE_DELAY = 60  # NodeStatus.pm $fence_delay
AGENT_LOCK_LIFETIME = 120  # Env/PVE2.pm get_pve_lock: pmxcfs' lock lifetime
RELEASES = {"9": {"version": "9.2.2", "release": "9.2", "repoid": "c0ffee42"},
            "8": {"version": "8.4.14", "release": "8.4", "repoid": "b502d23c"}}
RESOURCE_KEYS = ("state", "max_restart", "max_relocate", "comment", "failback", "group")

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


def sid_of(g):
    return "%s:%s" % ("vm" if g.type == "qemu" else "ct", g.vmid)


class HaOps:
    """Mixed into Cluster: resources.cfg, rules.cfg (PVE 9), groups.cfg (PVE 8) and the CRM's service states."""

    def ha_reset(self):
        self.ha = {}
        self.ha_rules = {}
        self.ha_groups = {}
        self.ha_crm = {}  # sid -> {"state": fence|recovery, "node": ...} while the CRM recovers it
        self.ha_down = {}  # node -> virtual time it went offline
        self.ha_events = []  # scenario events: (virtual time, kind, node)
        self.pve_major = self.initial_major

    # --- version --------------------------------------------------------------------------------
    @staticmethod
    def release_major(version):
        major = str(version).split(".")[0]
        if major not in RELEASES:
            raise PVEError("pvesim answers as PVE %s: version %r is not one of them"
                           % (" or ".join(sorted(r["release"] for r in RELEASES.values())), version))
        return major

    def scenario_ha(self, sc):
        self.ha_schedule(sc.get("events"))

    def version_info(self):
        return dict(RELEASES[self.pve_major])

    # --- resources ------------------------------------------------------------------------------
    def ha_digest(self):
        return hashlib.sha1(json.dumps(self.ha, sort_keys=True).encode()).hexdigest()

    def ha_sid(self, sid):
        if ":" in sid:
            return sid
        g = self.guests.get(int(sid)) if sid.isdigit() else None
        if g is None:
            raise PVEError("unable to detect SID from VMID - VM/CT %s does not exist" % sid)
        return sid_of(g)

    def resource_view(self, sid):
        # read_and_check_resources_config fills in the defaults of state, max_restart, max_relocate (and
        # failback, which PVE 8 does not have)
        if sid not in self.ha:
            raise PVEError("no such resource '%s'" % sid)
        entry = dict(self.ha[sid], sid=sid, digest=self.ha_digest())
        entry.setdefault("state", "started")
        defaults = (("max_restart", 1), ("max_relocate", 1)) + ((("failback", 1),) if self.pve_major != "8" else ())
        for key, default in defaults:
            entry.setdefault(key, default)
        return entry

    def resource_list(self, rtype=None):
        return [self.resource_view(k) for k, v in sorted(self.ha.items()) if rtype is None or v["type"] == rtype]

    def _check_group_param(self, params):
        group = params.get("group")
        if not group:
            return
        if self.pve_major != "8":
            raise param_error({"group": "invalid parameter 'group': ha groups have been migrated to rules"})
        if group not in self.ha_groups:
            raise PVEError("HA group '%s' does not exist" % group)

    def resource_create(self, params):
        self._check_group_param(params)
        sid = self.ha_sid(params["sid"])
        vmid = int(sid.split(":")[1])
        if vmid not in self.guests:
            raise PVEError("unable to detect SID from VMID - VM/CT %s does not exist" % vmid)
        if sid in self.ha:
            raise PVEError("create resource failed: resource ID '%s' already defined" % sid)
        # 'enabled' is an alias of 'started' (PVE::HA::Config::read_and_check_resources_config)
        entry = {"type": sid.split(":")[0], "state": {"enabled": "started"}.get(params.get("state"),
                                                                                  params.get("state", "started"))}
        for k in RESOURCE_KEYS[1:]:
            if k in params:
                entry[k] = params[k]
        self.ha[sid] = entry
        self.guests[vmid].changed()
        self.ha_apply(sid)

    def resource_update(self, params):
        sid = self.ha_sid(params["sid"])
        self._check_group_param(params)
        if params.get("digest") and params["digest"] != self.ha_digest():
            raise PVEError("update resource failed: detected modified configuration - file changed by other user? "
                           "Try again.")
        if sid not in self.ha:
            raise PVEError("update resource failed: no such resource '%s'" % sid)
        for k in RESOURCE_KEYS:
            if k in params:
                self.ha[sid][k] = "started" if k == "state" and params[k] == "enabled" else params[k]
        for k in [k for k in str(params.get("delete") or "").split(",") if k]:
            self.ha[sid].pop(k, None)
        g = self.guests.get(int(sid.split(":")[1]))
        if g is not None:
            g.changed()
        self.ha_apply(sid)

    def resource_delete(self, sid):
        sid = self.ha_sid(sid)
        if self.ha.pop(sid, None) is None:
            raise PVEError("cannot delete service '%s', not HA managed!" % sid)
        self.ha_crm.pop(sid, None)
        g = self.guests.get(int(sid.split(":")[1]))
        if g is not None:
            g.changed()

    # --- groups (PVE 8) -------------------------------------------------------------------------
    def groups_digest(self):
        return hashlib.sha1(json.dumps(self.ha_groups, sort_keys=True).encode()).hexdigest()

    def group_view(self, gid):
        grp = self.ha_groups.get(gid)
        if grp is None:
            raise PVEError("no such ha group '%s'" % gid)
        out = dict(grp, group=gid, type="group", digest=self.groups_digest(), nodes=print_nodes(grp["nodes"]))
        return out

    def group_list(self):
        return [self.group_view(gid) for gid in sorted(self.ha_groups)]

    @staticmethod
    def _group_opts(params):
        opts = {}
        if "nodes" in params:
            opts["nodes"] = parse_nodes(params["nodes"])
        for key in ("restricted", "nofailback"):
            if key in params:
                opts[key] = 1 if params[key] in (1, "1", True) else 0
        if "comment" in params:
            opts["comment"] = params["comment"]
        return opts

    def group_create(self, params):
        if params.get("type") not in (None, "group"):
            raise PVEError("types does not match")
        gid = params["group"]
        opts = self._group_opts(params)
        if gid in self.ha_groups:
            raise PVEError("create ha group failed: ha group ID '%s' already defined" % gid)
        self.ha_groups[gid] = opts
        self.touch()

    def group_update(self, params):
        gid = params["group"]
        if params.get("digest") and params["digest"] != self.groups_digest():
            raise PVEError("update ha group failed: detected modified configuration - file changed by other user? "
                           "Try again.")
        grp = self.ha_groups.get(gid)
        if grp is None:
            raise PVEError("update ha group failed: no such ha group '%s'" % gid)
        grp.update(self._group_opts(params))
        for key in [k for k in str(params.get("delete") or "").split(",") if k]:
            if key == "nodes":
                raise PVEError("update ha group failed: unable to delete required option 'nodes'")
            if key not in ("restricted", "nofailback", "comment"):
                raise PVEError("update ha group failed: no such option '%s'" % key)
            grp.pop(key, None)
        self.touch()

    def group_delete(self, gid):
        for sid, res in sorted(self.ha.items()):
            if res.get("group") == gid:
                raise PVEError("delete ha group failed: ha group is used by service '%s'" % sid)
        self.ha_groups.pop(gid, None)
        self.touch()

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

    # --- node failure and recovery --------------------------------------------------------------
    def ha_node_changed(self, name, status):
        """A node went offline or came back (a node_offline fault, a scenario event)."""
        if status == "online":
            # back before it was fenced: its services never left (the LRM kept its agent lock)
            self.ha_down.pop(name, None)
            for sid, crm in list(self.ha_crm.items()):
                if crm["node"] == name and crm["state"] == "fence":
                    del self.ha_crm[sid]
            for sid in sorted(self.ha):
                self.ha_apply(sid)
        else:
            self.ha_down.setdefault(name, self.clock.now())
        for g in self.guests.values():
            if g.node == name:
                g.changed()

    def ha_schedule(self, events):
        """Scenario events [{at: SECONDS, node_offline|node_online: NODE}], on the virtual clock from now."""
        now = self.clock.now()
        for ev in events or []:
            kind = "node_offline" if "node_offline" in ev else "node_online"
            node = ev.get(kind)
            if node not in self.nodes:
                raise PVEError("scenario event %r: unknown node '%s'" % (ev, node))
            self.ha_events.append((now + float(ev.get("at", 0)), kind, node))
        self.ha_events.sort()

    def ha_tick(self):
        now = self.clock.now()
        while self.ha_events and self.ha_events[0][0] <= now:
            _, kind, node = self.ha_events.pop(0)
            self.set_node_status(node, "offline" if kind == "node_offline" else "online")
        for node, since in sorted(self.ha_down.items()):
            if now - since >= FENCE_DELAY:
                self._ha_fence(node)
            if now - since >= AGENT_LOCK_LIFETIME:
                self._ha_fenced(node)
        if any(c["state"] == "recovery" for c in self.ha_crm.values()):
            self._ha_recover()

    def _ha_guest(self, sid):
        return self.guests.get(int(sid.split(":")[1]))

    def _ha_fence(self, node):
        for sid, res in sorted(self.ha.items()):
            g = self._ha_guest(sid)
            if g is None or g.node != node or sid in self.ha_crm:
                continue
            if res.get("state", "started") in ("started", "stopped"):
                self.ha_crm[sid] = {"state": "fence", "node": node}
                g.changed()

    def _ha_fenced(self, node):
        fenced = [sid for sid, c in self.ha_crm.items() if c["node"] == node and c["state"] == "fence"]
        if not fenced:
            return
        # the watchdog reset the node: whatever ran there is gone
        for g in self.guests.values():
            if g.node == node and g.status == "running":
                self._stop(g)
        for sid in fenced:
            self.ha_crm[sid]["state"] = "recovery"
        self.ha_down.pop(node, None)

    def _ha_recover(self):
        for sid in sorted(s for s, c in self.ha_crm.items() if c["state"] == "recovery"):
            g = self._ha_guest(sid)
            res = self.ha.get(sid)
            if g is None or res is None:
                self.ha_crm.pop(sid, None)
                continue
            target = self.ha_select_node(sid)
            if target is None:
                continue  # PVE retries every round
            g.node = target
            g.config.pop("lock", None)  # fence_recovery_cleanup removes backup, migrate, snapshot... locks
            g.changed()
            del self.ha_crm[sid]
            self.touch()
            self.ha_apply(sid)

    def ha_select_node(self, sid):
        """select_service_node(..., 'best-score') for a recovery: see the module docstring."""
        online = sorted(n for n, node in self.nodes.items() if node.status == "online")
        prio, strict = self._ha_node_priorities(sid)
        if prio:
            allowed = {n: p for n, p in prio.items() if n in online}
            if not strict:
                for n in online:
                    allowed.setdefault(n, -1)
        else:
            allowed = dict((n, 0) for n in online)
        if not allowed:
            return None
        top = max(allowed.values())
        candidates = [n for n, p in allowed.items() if p == top]
        separate, together = self._ha_resource_affinity(sid)
        candidates = [n for n in candidates if n not in separate] or []
        if together and candidates:
            candidates = [n for n in candidates if n in together] or candidates
        if not candidates:
            return None
        usage = dict((n, 0) for n in candidates)
        for other in self.ha:
            og = self._ha_guest(other)
            if other != sid and og is not None and og.node in usage and other not in self.ha_crm:
                usage[og.node] += 1
        return sorted(candidates, key=lambda n: (usage[n], n))[0]

    def _ha_node_priorities(self, sid):
        """{node: priority} and strictness of the resource's node affinity rule (PVE 9) or group (PVE 8)."""
        if self.pve_major == "8":
            grp = self.ha_groups.get(self.ha[sid].get("group") or "")
            if grp is None:
                return {}, False
            return dict((n, p or 0) for n, p in grp["nodes"].items()), bool(grp.get("restricted"))
        for rule in sorted(self.ha_rules.values(), key=lambda r: r["order"]):
            if rule["type"] == "node-affinity" and not rule.get("disable") and sid in rule["resources"]:
                return dict((n, p or 0) for n, p in rule["nodes"].items()), bool(rule.get("strict"))
        return {}, False

    def _ha_resource_affinity(self, sid):
        """Nodes the resource must avoid (negative affinity) and the nodes of its positive partners."""
        separate, together = set(), set()
        for rule in self.ha_rules.values() if self.pve_major != "8" else ():
            if rule["type"] != "resource-affinity" or rule.get("disable") or sid not in rule["resources"]:
                continue
            for other in rule["resources"]:
                og = self._ha_guest(other)
                if other == sid or og is None or other in self.ha_crm:
                    continue
                (separate if rule["affinity"] == "negative" else together).add(og.node)
        return separate, together

    def ha_state(self, sid):
        """The service state as the CRM reports it (/cluster/resources hastate, /cluster/ha/status/current)."""
        crm = self.ha_crm.get(sid)
        if crm:
            return crm["state"]
        res = self.ha.get(sid)
        return res.get("state", "started") if res else None

    def ha_status_current(self):
        now = int(self.clock.now())
        online = [n for n in sorted(self.nodes) if self.nodes[n].status == "online"]
        first = (online or sorted(self.nodes))[0]
        out = [{"id": "quorum", "type": "quorum", "node": first, "status": "OK", "quorate": 1}]
        if not self.ha:
            return out
        out.append({"id": "master", "type": "master", "node": first, "status": "%s (active, %s)" % (first, now),
                    "timestamp": now})
        busy = {g.node for g in (self._ha_guest(s) for s in self.ha) if g is not None}
        for n in sorted(self.nodes):
            if self.nodes[n].status != "online":
                since = int(self.ha_down.get(n, now))
                out.append({"id": "lrm:%s" % n, "type": "lrm", "node": n, "timestamp": since,
                            "status": "%s (old timestamp - dead?, %s)" % (n, since)})
                continue
            mode = "active" if n in busy else "idle"
            out.append({"id": "lrm:%s" % n, "type": "lrm", "node": n, "status": "%s (%s, %s)" % (n, mode, now),
                        "timestamp": now})
        for sid, res in sorted(self.ha.items()):
            g = self._ha_guest(sid)
            if g is None:
                continue
            state = self.ha_state(sid)
            entry = {"id": "service:%s" % sid, "type": "service", "sid": sid, "node": g.node, "state": state,
                     "crm_state": state, "request_state": res.get("state", "started"),
                     "status": "%s (%s, %s)" % (sid, g.node, state),
                     "max_restart": res.get("max_restart", 1), "max_relocate": res.get("max_relocate", 1)}
            for key in ("group", "failback", "comment"):
                if key in res:
                    entry[key] = res[key]
            out.append(entry)
        return out
