"""/nodes/{node}/tasks: task list, status, log, stop."""

import re

from ..model.errors import PVEError, param_error
from . import Result, route

UPID_RE = re.compile(r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
                     r"([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$")


def split_token(user):
    """Tasks.pm convert_token_task: a token's task shows user and tokenid separately."""
    if "!" in user:
        u, tok = user.split("!", 1)
        return u, tok
    return user, None


def owns(task, authid):
    """Tasks.pm check_task_user: a token sees only its own tasks, a user sees its own and its tokens' tasks."""
    return authid == task.user or authid == split_token(task.user)[0]


def _task(ctx, priv="Sys.Audit"):
    upid = ctx.params["upid"]
    if not UPID_RE.match(upid):
        raise param_error({"upid": "unable to parse worker upid"})
    task = ctx.cluster.tasks.get(upid)
    if task is None or task.node != ctx.params["node"]:
        raise param_error({"upid": "no such task"})
    if not owns(task, ctx.authid):
        ctx.check("/nodes/" + task.node, [priv])
    return task


def status_type(status):
    """PVE::Tools::upid_normalize_status_type (a running task has no status yet: unknown)."""
    if not status:
        return "unknown"
    if status == "OK":
        return "ok"
    if re.match(r"^WARNINGS: \d+$", status):
        return "warning"
    if status == "unexpected status":
        return "unknown"
    return "error"


@route("GET", "/nodes/{node}/tasks")
def task_list(ctx):
    """Tasks.pm node_tasks: 'active' = running tasks, 'archive' (default) = finished ones, newest first."""
    p = ctx.params
    c = ctx.cluster
    start = p.get("start", 0)
    limit = p.get("limit", 50)
    errors = p.get("errors")
    source = p.get("source", "archive")
    statusfilter = {"ok": 1, "warning": 1, "error": 1, "unknown": 1}
    if p.get("statusfilter") is not None and not errors:
        statusfilter = {k: 0 for k in statusfilter}
        for f in re.split(r"[,;\s]+", p["statusfilter"]):
            if f:
                statusfilter[f.lower()] = 1
    elif errors:
        statusfilter["ok"] = 0
    auditor = ctx.can("/nodes/" + p["node"], ["Sys.Audit"])
    userfilter = p.get("userfilter")
    count = 0
    out = []

    def keep(info, user):
        nonlocal count, limit
        if userfilter and userfilter.lower() not in user.lower():
            return False
        if not auditor:
            tok = info.get("tokenid")
            if not (ctx.authid == info["user"] or (tok and ctx.authid == info["user"] + "!" + tok)):
                return False
        if p.get("typefilter") and info["type"] != p["typefilter"]:
            return False
        if p.get("vmid") and (not info["id"] or info["id"] != str(p["vmid"])):
            return False
        if p.get("since") is not None and info["starttime"] < p["since"]:
            return False
        if p.get("until") is not None and info["starttime"] > p["until"]:
            return False
        if not statusfilter.get(status_type(info.get("status"))):
            return False
        count += 1
        if count <= start or limit <= 0:
            return False
        limit -= 1
        return True

    tasks = c.tasks.by_node.get(p["node"], [])
    if source in ("active", "all"):
        for t in tasks:
            if t.status != "running":
                continue
            # the active-task list is not passed through convert_token_task in Tasks.pm: user stays user@realm!token
            info = t.info()
            if keep(info, info["user"]):
                info["status"] = "RUNNING"
                out.append(info)
    if source != "active":
        for t in reversed(tasks):
            if t.status == "running":
                continue
            info = t.info()
            user, tok = split_token(info["user"])
            info["user"] = user
            if tok:
                info["tokenid"] = tok
            if keep(info, user):
                out.append(info)
    return Result(out, total=count)


@route("GET", "/nodes/{node}/tasks/{upid}")
def task_index(ctx):
    _task(ctx)
    return [{"name": "log"}, {"name": "status"}]


@route("GET", "/nodes/{node}/tasks/{upid}/status")
def task_status(ctx):
    t = _task(ctx)
    user, tok = split_token(t.user)
    d = {"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart, "starttime": t.starttime, "type": t.type,
         "id": t.id, "user": user, "status": t.status}
    if tok:
        d["tokenid"] = tok
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
            raise PVEError("'download' cannot be used together with 'start' or 'limit' parameters")
        return "\n".join(lines) + "\n"
    start = ctx.params.get("start", 0)
    limit = ctx.params.get("limit", 50)
    sel = lines[start:start + limit] if limit else lines[start:]
    return Result([{"n": start + i + 1, "t": ln} for i, ln in enumerate(sel)], total=len(lines))


@route("DELETE", "/nodes/{node}/tasks/{upid}")
def task_stop(ctx):
    t = _task(ctx, "Sys.Modify")
    if t.status == "running":
        ctx.cluster.tasks.stop(t)
    return None
