"""/nodes/{node}/tasks: task list, status, log, stop."""

import re

from ..model.errors import PVEError, param_error
from . import Result, route

UPID_RE = re.compile(r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
                     r"([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$")


def _task(ctx):
    upid = ctx.params["upid"]
    if not UPID_RE.match(upid):
        raise param_error({"upid": "unable to parse worker upid"})
    task = ctx.cluster.tasks.get(upid)
    if task is None or task.node != ctx.params["node"]:
        raise param_error({"upid": "no such task"})
    if task.user != ctx.authid and task.user.split("!")[0] != ctx.authid:
        ctx.check("/nodes/" + task.node, ["Sys.Audit"])
    return task


@route("GET", "/nodes/{node}/tasks")
def task_list(ctx):
    p = ctx.params
    c = ctx.cluster
    tasks = list(reversed(c.tasks.by_node.get(p["node"], [])))
    out = []
    for t in tasks:
        if p.get("typefilter") and t.type != p["typefilter"]:
            continue
        if p.get("vmid") is not None and t.id != str(p["vmid"]):
            continue
        if p.get("userfilter") and p["userfilter"] not in t.user:
            continue
        src = p.get("source", "archive")
        if src == "active" and t.status != "running":
            continue
        if p.get("errors") and t.status == "stopped" and t.exitstatus == "OK":
            continue
        if p.get("errors") and t.status == "running":
            continue
        if p.get("since") is not None and t.starttime < p["since"]:
            continue
        if p.get("until") is not None and t.starttime > p["until"]:
            continue
        if p.get("statusfilter"):
            st = "ok" if t.exitstatus == "OK" else ("warning" if (t.exitstatus or "").startswith("WARNINGS") else
                                                    ("running" if t.status == "running" else "error"))
            if st not in p["statusfilter"].split(","):
                continue
        if t.user != ctx.authid and not ctx.can("/nodes/" + t.node, ["Sys.Audit"]):
            continue
        out.append(t.info())
    total = len(out)
    start = p.get("start", 0)
    limit = p.get("limit", 50)
    return Result(out[start:start + limit] if limit else out[start:], total=total)


@route("GET", "/nodes/{node}/tasks/{upid}")
def task_index(ctx):
    _task(ctx)
    return [{"name": "log"}, {"name": "status"}]


@route("GET", "/nodes/{node}/tasks/{upid}/status")
def task_status(ctx):
    t = _task(ctx)
    d = {"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart, "starttime": t.starttime, "type": t.type,
         "id": t.id, "user": t.user, "status": t.status}
    if t.status == "stopped":
        d["exitstatus"] = t.exitstatus
    return d


@route("GET", "/nodes/{node}/tasks/{upid}/log")
def task_log(ctx):
    t = _task(ctx)
    lines = [ln for ln in t.log if ln != ""]
    if not lines:
        lines = ["no content"]
    if ctx.params.get("download"):
        if ctx.params.get("start") is not None or ctx.params.get("limit") is not None:
            raise PVEError("Parameter verification failed.", 400, {"download": "option conflicts with option 'start'"})
        return "\n".join(lines) + "\n"
    start = ctx.params.get("start", 0)
    limit = ctx.params.get("limit", 50)
    sel = lines[start:start + limit] if limit else lines[start:]
    return Result([{"n": start + i + 1, "t": ln} for i, ln in enumerate(sel)], total=len(lines))


@route("DELETE", "/nodes/{node}/tasks/{upid}")
def task_stop(ctx):
    t = _task(ctx)
    if t.user != ctx.authid:
        ctx.check("/nodes/" + t.node, ["Sys.Modify"])
    if t.status == "running":
        ctx.cluster.tasks.stop(t)
    return None
