"""The cluster model: nodes, storage and volumes, pools, HA, guests and tasks. Knows nothing of HTTP."""

import hashlib
import json
import random
import threading
import time
import uuid

from .. import propstring
from . import content as content_model
from .access import Access
from .backup import BackupOps
from .ha import HaOps
from .clock import Clock
from .errors import PVEError
from .guests import Guest, GuestOps, schema_typed
from .lxc import LxcOps
from .tasks import TaskManager

GiB = 1024 ** 3
DEFAULT_ISO = "local:iso/debian-13.iso"
DEFAULT_VZTMPL = "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"
DEFAULT_IMPORT = "local:import/debian-13-genericcloud-amd64.qcow2"


class Node:
    def __init__(self, name, status="online", maxcpu=16, maxmem=64 * GiB, index=1):
        self.name = name
        self.status = status
        self.maxcpu = maxcpu
        self.maxmem = maxmem
        self.index = index
        self.boot = time.time() - 86400


class Storage:
    def __init__(self, sid, stype, content, nodes=None, shared=0, total=500 * GiB, enabled=1):
        self.id = sid
        self.type = stype
        self.content = list(content)
        self.nodes = nodes  # None = all nodes
        self.shared = int(shared)
        self.total = int(total)
        self.enabled = enabled

    def available_on(self, node):
        return self.nodes is None or node in self.nodes

    @property
    def is_file(self):
        return self.type in ("dir", "nfs", "cifs", "glusterfs", "cephfs", "btrfs")


class Cluster(BackupOps, HaOps, LxcOps, GuestOps):
    def __init__(self, nodes=3, time_scale=0.0, with_shared=True, seed=None, pve_version="9.2"):
        self.lock = threading.RLock()
        self.initial_major = HaOps.release_major(pve_version)
        self.clock = Clock(time_scale)
        self.rng = random.Random(seed)
        self.nodes_count = nodes
        self.initial_nodes = nodes
        self.with_shared = with_shared
        self.reset()

    # --- construction / persistence ----------------------------------------
    def reset(self):
        scale = self.clock.time_scale
        self.clock = Clock(scale)
        self.access = Access(self.clock)
        self.tasks = TaskManager(self.clock)
        self.nodes = {}
        self.storages = {}
        self.volumes = {}  # (scope, volid) -> dict ; scope = "" for shared storage else node
        self._names = {}  # (scope, storage) -> volume base names, for allocation
        self._used = {}  # (scope, storage) -> bytes used
        self.guests = {}
        self.pools = {}
        self.ha_reset()
        self.timed_locks = []
        self.dhcp_range = "192.168.100.100-192.168.100.250"
        self.clustername = "pvesim"
        self.version = 0
        self.next_mac = 0
        self.root_token_secret = str(uuid.uuid4())
        self.aplinfo = content_model.catalogue()
        for i in range(1, self.nodes_count + 1):
            self.nodes["pve%d" % i] = Node("pve%d" % i, index=i)
        self.storages["local"] = Storage("local", "dir", ["iso", "vztmpl", "backup", "snippets", "import"], total=100 * GiB)
        self.storages["local-lvm"] = Storage("local-lvm", "lvmthin", ["images", "rootdir"], total=400 * GiB)
        if self.with_shared:
            self.storages["shared"] = Storage("shared", "nfs", ["images", "rootdir", "iso", "vztmpl", "import"],
                                              shared=1, total=2048 * GiB)
        for node in self.nodes:
            self.add_volume(node, DEFAULT_ISO, 700 * 1024 ** 2, content="iso", fmt="iso")
            self.add_volume(node, DEFAULT_VZTMPL, 130 * 1024 ** 2, content="vztmpl", fmt="tzst")
            self.add_volume(node, DEFAULT_IMPORT, 400 * 1024 ** 2, content="import", fmt="qcow2", virtual=3 * GiB)
        self.access.users["root@pam"] = {"userid": "root@pam", "password": "pvesim", "enable": 1, "expire": 0,
                                         "comment": None, "email": "root@localhost", "groups": [], "tokens": {}}
        self.access.add_token("root@pam", "pvesim", self.root_token_secret, privsep=0)
        self.tasks.fail_hooks = []
        self.touch()

    def touch(self):
        self.version += 1

    def to_dict(self):
        with self.lock:
            for t in list(self.tasks.tasks.values()):
                if t.status == "running":
                    self.tasks.finish(t)
            return {
                "nodes": [vars(n) for n in self.nodes.values()],
                "storages": [vars(s) for s in self.storages.values()],
                "volumes": [[k[0], k[1], v] for k, v in self.volumes.items()],
                "guests": [g.to_dict() for g in self.guests.values()],
                "pools": self.pools, "ha": self.ha, "ha_rules": self.ha_rules, "ha_groups": self.ha_groups,
                "pve_major": self.pve_major, "access": self.access.to_dict(),
                "tasks": self.tasks.to_list(), "clock_offset": self.clock.offset, "dhcp_range": self.dhcp_range,
                "root_token_secret": self.root_token_secret, "next_mac": self.next_mac,
            }

    def load_dict(self, d):
        with self.lock:
            self.nodes = {}
            for nd in d["nodes"]:
                n = Node.__new__(Node)
                n.__dict__.update(nd)
                self.nodes[n.name] = n
            self.storages = {}
            for sd in d["storages"]:
                s = Storage.__new__(Storage)
                s.__dict__.update(sd)
                self.storages[s.id] = s
            self.volumes = {}
            self._names = {}
            self._used = {}
            for a, b, v in d["volumes"]:
                self.put_volume(a, b, v)
            self.guests = {}
            for gd in d["guests"]:
                g = Guest.from_dict(gd)
                self.guests[g.vmid] = g
            self.pools = d["pools"]
            self.ha = d["ha"]
            self.ha_rules = d.get("ha_rules", {})
            self.ha_groups = d.get("ha_groups", {})
            self.pve_major = d.get("pve_major", self.pve_major)
            self.access.load(d["access"])
            self.tasks.load_list(d["tasks"])
            self.clock.offset = d.get("clock_offset", 0.0)
            self.dhcp_range = d.get("dhcp_range", self.dhcp_range)
            self.root_token_secret = d.get("root_token_secret", self.root_token_secret)
            self.next_mac = d.get("next_mac", 0)
            self.touch()

    # --- housekeeping -----------------------------------------------------
    def tick(self):
        self.tasks.tick()
        self.ha_tick()
        if self.timed_locks:
            now = self.clock.now()
            keep = []
            for vmid, lock, until in self.timed_locks:
                if until is not None and until <= now:
                    g = self.guests.get(vmid)
                    if g and g.config.get("lock") == lock:
                        g.config.pop("lock", None)
                        g.changed()
                else:
                    keep.append((vmid, lock, until))
            self.timed_locks = keep

    def clear_timed_locks(self):
        for vmid, lock, _ in self.timed_locks:
            g = self.guests.get(vmid)
            if g and g.config.get("lock") == lock:
                g.config.pop("lock", None)
                g.changed()
        self.timed_locks = []

    # --- nodes --------------------------------------------------------------
    def get_node(self, name):
        node = self.nodes.get(name)
        if node is None:
            raise PVEError("hostname lookup '%s' failed - failed to get address info for: %s: Name or service not known"
                           % (name, name))
        return node

    def node_usage(self):
        """{node: (mem, cpu)} as /cluster/resources reports them: the host's own share (an eighth of its memory,
        2% CPU) plus what its running guests use (the figures of their own entries), so that moving a guest
        moves its load as it does on PVE."""
        usage = dict((n, [node.maxmem // 8, 0.02 * node.maxcpu]) for n, node in self.nodes.items())
        for g in self.guests.values():
            if g.status == "running" and g.node in usage:
                usage[g.node][0] += g.maxmem() // 4
                usage[g.node][1] += 0.01 * g.cpus()
        return dict((n, (min(mem, self.nodes[n].maxmem), min(1.0, round(cpu / (self.nodes[n].maxcpu or 1), 4))))
                    for n, (mem, cpu) in usage.items())

    def set_node_status(self, name, status):
        """A node going offline or coming back: HA fences and recovers its services (model/ha.py)."""
        node = self.get_node(name)
        if node.status != status:
            node.status = status
            self.ha_node_changed(name, status)
            self.touch()

    def check_node_online(self, name):
        node = self.get_node(name)
        if node.status != "online":
            raise PVEError("No route to host", 595)
        return node

    # --- storage ------------------------------------------------------------
    def get_storage(self, sid, node=None):
        st = self.storages.get(sid)
        if st is None:
            raise PVEError("storage '%s' does not exist" % sid)
        if node and not st.available_on(node):
            raise PVEError("storage '%s' is not available on node '%s'" % (sid, node))
        return st

    def scope(self, sid, node):
        return "" if self.storages[sid].shared else node

    def add_volume(self, node, volid, size, content="images", fmt="raw", vmid=None, virtual=None, data=None,
                   parent=None):
        sid = volid.split(":", 1)[0]
        vol = {"volid": volid, "size": int(virtual or size), "used": int(size), "format": fmt, "content": content,
               "ctime": int(self.clock.now())}
        if vmid is not None:
            vol["vmid"] = int(vmid)
        if parent:
            vol["parent"] = parent
        if data is not None:
            vol["data"] = data
        self.put_volume(self.scope(sid, node), volid, vol)
        return vol

    def put_volume(self, scope, volid, vol):
        if (scope, volid) in self.volumes:
            self.drop_volume(scope, volid)
        self.volumes[(scope, volid)] = vol
        sid = volid.split(":", 1)[0]
        self._used[(scope, sid)] = self._used.get((scope, sid), 0) + vol["used"]
        self._names.setdefault((scope, sid), set()).add(self._basename(volid))
        self.touch()

    def find_volume(self, node, volid):
        sid = volid.split(":", 1)[0]
        if sid not in self.storages:
            return None
        return self.volumes.get((self.scope(sid, node), volid))

    def remove_volume(self, node, volid):
        sid = volid.split(":", 1)[0]
        if sid in self.storages:
            self.drop_volume(self.scope(sid, node), volid)

    def drop_volume(self, scope, volid):
        old = self.volumes.pop((scope, volid), None)
        if old is not None:
            sid = volid.split(":", 1)[0]
            self._used[(scope, sid)] = self._used.get((scope, sid), 0) - old["used"]
            self._names.get((scope, sid), set()).discard(self._basename(volid))
        self.touch()

    def storage_used(self, sid, node):
        return self._used.get((self.scope(sid, node), sid), 0)

    def storage_status(self, sid, node):
        st = self.storages[sid]
        used = min(self.storage_used(sid, node), st.total)
        return {"storage": sid, "type": st.type, "content": ",".join(sorted(st.content)), "active": 1,
                "enabled": st.enabled, "shared": st.shared, "total": st.total, "used": used,
                "avail": st.total - used, "used_fraction": used / st.total if st.total else 0}

    def storage_digest(self):
        return hashlib.sha1(json.dumps(sorted((s.id, s.type, s.content, s.nodes, s.shared) for s in self.storages.values()),
                                       default=str).encode()).hexdigest()

    def storage_full_hook(self, sid):
        return False

    def alloc_check(self, sid, node, size):
        st = self.storages[sid]
        if self.storage_full_hook(sid) or self.storage_used(sid, node) + size > st.total:
            if st.type in ("lvmthin", "lvm"):
                raise PVEError("lvcreate 'pve/vm-disk' error:   Insufficient free space: thin pool pve/data is full")
            raise PVEError("error during cfs-locked 'storage-%s' operation: No space left on device" % sid)

    @staticmethod
    def _basename(volid):
        name = volid.split(":", 1)[1].rsplit("/", 1)[-1]
        for ext in (".qcow2", ".raw", ".vmdk", ".subvol"):
            if name.endswith(ext):
                return name[:-len(ext)]
        return name

    def _name_taken(self, scope, sid, name):
        keys = self._names.get((scope, sid))
        return bool(keys) and name in keys

    def alloc_name(self, sid, node, vmid, fmt=None, prefix="vm", kind="disk"):
        st = self.storages[sid]
        scope = self.scope(sid, node)
        if kind == "cloudinit":
            name = "vm-%s-cloudinit" % vmid
            return ("%s:%s/%s.%s" % (sid, vmid, name, fmt or "qcow2")) if st.is_file else "%s:%s" % (sid, name)
        for n in range(0, 1000):
            name = "%s-%s-disk-%d" % (prefix, vmid, n)
            # pve-storage find_free_diskname: the disk number is free only if no vm-/base-/subvol-/basevol- uses it
            if any(self._name_taken(scope, sid, "%s-%s-disk-%d" % (p, vmid, n)) for p in ("vm", "base", "subvol", "basevol")):
                continue
            if st.is_file:
                return "%s:%s/%s.%s" % (sid, vmid, name, fmt or "qcow2")
            return "%s:%s" % (sid, name)
        raise PVEError("unable to allocate an image name for VM %s in storage '%s'" % (vmid, sid))

    def volume_in_use(self, volid):
        for g in self.guests.values():
            for v in g.volumes():
                if v == volid:
                    return g.vmid
        return None

    # --- pools ------------------------------------------------------------
    def pool_add_guest(self, poolid, vmid):
        pool = self.pools.get(poolid)
        if pool is None:
            raise PVEError("pool '%s' does not exist" % poolid)
        g = self.guests.get(vmid)
        if g is not None and g.pool and g.pool != poolid:
            raise PVEError("VM %s is already a pool member" % vmid)
        if vmid not in pool["vms"]:
            pool["vms"].append(vmid)
        if g is not None:
            g.pool = poolid
            g.changed()
        self.access.changed()

    def pool_remove_guest(self, vmid):
        for pool in self.pools.values():
            if vmid in pool["vms"]:
                pool["vms"].remove(vmid)
        g = self.guests.get(vmid)
        if g is not None:
            g.pool = None
            g.changed()
        self.access.changed()

    # --- misc -------------------------------------------------------------
    def gen_mac(self):
        self.next_mac += 1
        n = (self.rng.randrange(0, 1 << 24) & 0xFFFF00) | (self.next_mac & 0xFF)
        return "BC:24:11:%02X:%02X:%02X" % ((n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF)

    def nextid(self):
        vmid = 100
        used = set(self.guests)
        while vmid in used:
            vmid += 1
        return vmid

    # --- scenarios -----------------------------------------------------------
    def load_scenario(self, sc):
        """Replace the state with a scenario dict (see README)."""
        with self.lock:
            # a guest config lives in a node's directory: PVE has no guests on unknown nodes
            node_names = [nd["name"] for nd in sc["nodes"]] if sc.get("nodes") else list(self.nodes)
            for gd in sc.get("guests", []):
                if gd.get("node") and gd["node"] not in node_names:
                    raise PVEError("scenario guest %s is on unknown node '%s' (nodes: %s)"
                                   % (gd.get("vmid"), gd["node"], ", ".join(sorted(node_names))))
                schema_typed(gd.get("type", "qemu"), gd.get("vmid"), gd.get("config") or {})
            if sc.get("nodes"):
                self.nodes_count = len(sc["nodes"])
            self.reset()
            if sc.get("nodes"):
                self.nodes = {}
                for i, nd in enumerate(sc["nodes"], 1):
                    n = Node(nd["name"], nd.get("status", "online"), int(nd.get("maxcpu", 16)),
                             int(nd.get("maxmem", 64 * GiB)), index=i)
                    self.nodes[n.name] = n
                # default content for the new node names
                self.volumes = {}
                self._names = {}
                self._used = {}
                for node in self.nodes:
                    self.add_volume(node, DEFAULT_ISO, 700 * 1024 ** 2, content="iso", fmt="iso")
                    self.add_volume(node, DEFAULT_VZTMPL, 130 * 1024 ** 2, content="vztmpl", fmt="tzst")
                    self.add_volume(node, DEFAULT_IMPORT, 400 * 1024 ** 2, content="import", fmt="qcow2", virtual=3 * GiB)
            if sc.get("storages"):
                self.storages = {}
                for sd in sc["storages"]:
                    content = sd.get("content", ["images"])
                    if isinstance(content, str):
                        content = propstring.split_list(content)
                    self.storages[sd["id"]] = Storage(sd["id"], sd.get("type", "dir"), content, sd.get("nodes"),
                                                      sd.get("shared", 0), int(sd.get("total", 500 * GiB)))
                for k in [k for k, v in self.volumes.items() if v["volid"].split(":")[0] not in self.storages]:
                    self.drop_volume(*k)
            for ud in sc.get("users", []):
                if ud["userid"] not in self.access.users:
                    self.access.add_user(ud["userid"], ud.get("password"), groups=ud.get("groups", []))
                elif ud.get("password"):
                    self.access.users[ud["userid"]]["password"] = ud["password"]
                for td in ud.get("tokens", []):
                    self.access.add_token(ud["userid"], td["id"], td.get("secret"), td.get("privsep", 1))
            for ad in sc.get("acls", []):
                roles = ad["roles"] if isinstance(ad["roles"], list) else propstring.split_list(ad["roles"])
                self.access.set_acl(ad["path"], roles, ad.get("users", []), ad.get("groups", []),
                                    ad.get("tokens", []), ad.get("propagate", 1))
            for pd in sc.get("pools", []):
                self.pools[pd["poolid"]] = {"poolid": pd["poolid"], "comment": pd.get("comment"), "vms": [],
                                            "storage": list(pd.get("storage", []))}
            for cd in sc.get("content", []):
                node = cd.get("node")
                nodes = [node] if node else list(self.nodes)
                volid = cd["volid"]
                content = cd.get("content") or volid.split(":", 1)[1].split("/")[0]
                for n in nodes:
                    self.add_volume(n, volid, int(cd.get("size", GiB)), content=content,
                                    fmt=cd.get("format", volid.rsplit(".", 1)[-1] if "." in volid else "raw"))
            if sc.get("dhcp_range"):
                self.dhcp_range = sc["dhcp_range"]
            if sc.get("version"):
                self.pve_major = self.release_major(sc["version"])
            for gd in sc.get("guests", []):
                self.scenario_guest(gd)
            self.scenario_ha(sc)
            self.touch()

    def dump(self):
        return json.loads(json.dumps(self.to_dict(), default=str))


def template_content(name):
    """Deterministic bytes that stand for a downloadable template (sha512 is in the aplinfo catalogue)."""
    seed = hashlib.sha256(name.encode()).digest()
    return (b"pvesim template " + name.encode() + b"\n") + seed * 64
