"""Worker tasks with PVE UPIDs, logs and a due time on the virtual clock."""

import heapq
import itertools
import os

from .errors import PVEError, TaskError


class Task:
    def __init__(self, node, pid, pstart, starttime, ttype, tid, user):
        self.node = node
        self.pid = pid
        self.pstart = pstart
        self.starttime = starttime
        self.type = ttype
        self.id = tid
        self.user = user
        self.upid = "UPID:%s:%08X:%08X:%08X:%s:%s:%s:" % (node, pid, pstart, starttime, ttype, tid, user)
        self.status = "running"
        self.exitstatus = None
        self.endtime = None
        self.log = []
        self.warnings = 0
        self.due = starttime
        self.work = None
        self.on_error = None
        self.lock_vmid = None

    def info(self):
        d = {"upid": self.upid, "node": self.node, "pid": self.pid, "pstart": self.pstart,
             "starttime": self.starttime, "type": self.type, "id": self.id, "user": self.user}
        if self.status == "stopped":
            d["endtime"] = self.endtime
            d["status"] = self.exitstatus
        return d

    def to_dict(self):
        d = {k: v for k, v in vars(self).items() if k not in ("work", "on_error")}
        return d

    @classmethod
    def from_dict(cls, d):
        t = cls.__new__(cls)
        t.__dict__.update(d)
        t.work = t.on_error = None
        return t


class TaskManager:
    def __init__(self, clock, faults=None):
        self.clock = clock
        self.tasks = {}
        self.by_node = {}
        self.heap = []
        self.seq = itertools.count()
        self.pid = 100000 + (os.getpid() % 1000) * 100
        self.fail_hooks = []  # callables(task) -> message or None (fault injection)

    def start(self, node, ttype, tid, user, duration, work, on_error=None, lock_vmid=None, first_log=None):
        now = self.clock.now()
        self.pid += 1
        task = Task(node, self.pid, (self.pid * 7919) & 0xFFFFFFF, int(now), ttype, str(tid if tid is not None else ""), user)
        # duration None: the task is finished by its owner (a download's fetch thread), not by the clock
        task.due = now + self.clock.duration(duration) if duration is not None else float("inf")
        task.work = work
        task.on_error = on_error
        task.lock_vmid = lock_vmid
        if first_log:
            task.log.append(first_log)
        self.tasks[task.upid] = task
        self.by_node.setdefault(node, []).append(task)
        if duration is not None:
            heapq.heappush(self.heap, (task.due, next(self.seq), task.upid))
        if task.due <= now:
            self.tick()
        return task

    def tick(self):
        now = self.clock.now()
        while self.heap and self.heap[0][0] <= now:
            _, _, upid = heapq.heappop(self.heap)
            task = self.tasks.get(upid)
            if task and task.status == "running":
                self.finish(task)

    def finish(self, task, error=None):
        if task.status != "running":
            return
        if error is None:
            for hook in self.fail_hooks:
                error = hook(task)
                if error:
                    break
        try:
            if error:
                raise TaskError(error)
            if task.work:
                task.work(task)
        except Exception as exc:  # any worker failure ends the task, as a die in a PVE worker does
            if not isinstance(exc, (TaskError, PVEError)):
                import traceback
                traceback.print_exc()
            msg = str(exc).strip().replace("\n", " ")
            if task.on_error:
                try:
                    task.on_error(task)
                except Exception:  # cleanup must not keep the task running
                    pass
            task.log.append("TASK ERROR: " + msg)
            task.exitstatus = msg
        else:
            if task.warnings:
                task.log.append("TASK WARNINGS: %d" % task.warnings)
                task.exitstatus = "WARNINGS: %d" % task.warnings
            else:
                task.log.append("TASK OK")
                task.exitstatus = "OK"
        task.status = "stopped"
        task.endtime = int(max(self.clock.now(), task.starttime))
        task.work = task.on_error = None

    def stop(self, task):
        self.finish(task, error="received interrupt")

    def running_for(self, vmid):
        for t in self.tasks.values():
            if t.status == "running" and t.lock_vmid == vmid:
                return t
        return None

    def get(self, upid):
        return self.tasks.get(upid)

    def to_list(self):
        return [t.to_dict() for t in self.tasks.values() if t.status == "stopped"]

    def load_list(self, items):
        self.tasks = {}
        self.by_node = {}
        self.heap = []
        for d in items:
            t = Task.from_dict(d)
            self.tasks[t.upid] = t
            self.by_node.setdefault(t.node, []).append(t)
            self.pid = max(self.pid, t.pid)
