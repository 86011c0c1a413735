"""Fault injection registry (driven by POST /_pvesim/faults)."""

import random
import re
import threading

KINDS = ("latency", "status", "reset", "lost_response", "task_fail", "task_warn", "lock", "lock_timeout",
         "node_offline", "storage_full")
HTTP_KINDS = ("latency", "status", "reset", "lost_response", "lock_timeout")


class Faults:
    def __init__(self, cluster):
        self.cluster = cluster
        self.items = []
        self.next_id = 1
        self.mutex = threading.Lock()
        self.rng = random.Random()

    def add(self, spec):
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ValueError("unknown fault kind %r (known: %s)" % (kind, ", ".join(KINDS)))
        f = dict(spec)
        f.setdefault("path", None)
        f.setdefault("method", None)
        f.setdefault("count", 1)
        with self.mutex:
            f["id"] = self.next_id
            self.next_id += 1
            self.items.append(f)
        c = self.cluster
        with c.lock:
            if kind == "lock":
                vmid = int(f["vmid"])
                g = c.guests.get(vmid)
                if g is None:
                    raise ValueError("no such guest %s" % vmid)
                g.config["lock"] = f.get("lock", "backup")
                g.changed()
                until = c.clock.now() + float(f["seconds"]) if f.get("seconds") is not None else None
                c.timed_locks.append((vmid, g.config["lock"], until))
            elif kind == "node_offline":
                c.set_node_status(f["node"], "offline")
        return f["id"]

    def list(self):
        with self.mutex:
            return [dict(f) for f in self.items]

    def clear(self):
        with self.mutex:
            items, self.items = self.items, []
        c = self.cluster
        with c.lock:
            for f in items:
                if f["kind"] == "node_offline" and f["node"] in c.nodes:
                    c.set_node_status(f["node"], "online")
            c.clear_timed_locks()
            c.touch()

    def _consume(self, f):
        if f.get("rate") is not None and self.rng.random() >= float(f["rate"]):
            return False
        if f["count"] is not None:
            f["count"] -= 1
            if f["count"] <= 0:
                self.items.remove(f)
        return True

    def match_http(self, method, path):
        """Return the list of HTTP-level faults that fire for this request (consumed)."""
        out = []
        with self.mutex:
            for f in list(self.items):
                if f["kind"] not in HTTP_KINDS:
                    continue
                if f["method"] and f["method"].upper() != method:
                    continue
                if f["kind"] == "lock_timeout" and method == "GET" and not f["method"]:
                    continue
                if f["path"] and not re.search(f["path"], path):
                    continue
                if self._consume(f):
                    out.append(f)
                    if f["kind"] == "reset" or (f["kind"] == "status" and not f.get("after")):
                        break  # the call ends here: later faults would not take effect, so they are kept
        return out

    def task_hook(self, task):
        """Called when a task finishes: returns the error that fails it, or None.

        task_warn faults log a warning instead, so the task ends with WARNINGS as PVE's do when
        a worker calls log_warn.
        """
        with self.mutex:
            for f in list(self.items):
                if f["kind"] == "task_warn" and f.get("task_type") in (None, task.type):
                    if f.get("vmid") is not None and str(f["vmid"]) != task.id:
                        continue
                    if self._consume(f):
                        task.log.append("WARN: " + f.get("message", "simulated warning"))
                        task.warnings += 1
                    continue
                if f["kind"] == "task_fail" and f.get("task_type") in (None, task.type):
                    if f.get("vmid") is not None and str(f["vmid"]) != task.id:
                        continue
                    if self._consume(f):
                        return f.get("message", "simulated failure")
        return None

    def storage_full(self, sid):
        with self.mutex:
            for f in list(self.items):
                if f["kind"] == "storage_full" and f.get("storage") in (None, sid):
                    return self._consume(f) or True
        return False
