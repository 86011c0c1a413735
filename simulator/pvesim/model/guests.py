"""QEMU VMs and LXC containers: configs, pending changes, disks, power state, clone/template/migrate/snapshots."""

import copy
import hashlib
import ipaddress
import json
import re
import time
import uuid

from .. import propstring
from .errors import PVEError, TaskError, param_error

GiB = 1024 ** 3
QEMU_DRIVE_RE = re.compile(r"^(ide|sata|scsi|virtio)\d+$|^efidisk0$|^tpmstate0$")
LXC_DRIVE_RE = re.compile(r"^rootfs$|^mp\d+$")
UNUSED_RE = re.compile(r"^unused\d+$")
NEW_DISK_RE = re.compile(r"^(([^/:\s]+):)?(\d+(\.\d+)?)$")
FAST_PLUG = {"name", "description", "onboot", "tags", "protection", "startup", "hookscript", "lock", "shares",
             "vmstatestorage", "balloon", "tablet", "cpulimit", "cpuunits"}
LXC_HOT = {"memory", "swap", "cores", "cpulimit", "cpuunits", "description", "onboot", "tags", "protection",
           "startup", "hookscript", "lock"}
SNAPSHOT_UNCOPIED = {"lock", "digest", "description", "snaptime", "vmstate", "snapstate"}
QEMU_HIDDEN_KEYS = {"vmstate", "parent", "snaptime", "runningmachine", "runningcpu", "running-nets-host-mtu"}
CONTROL_KEYS = {"node", "vmid", "delete", "revert", "digest", "skiplock", "force", "background_delay",
                "import-working-storage"}
MASKED = ("cipassword",)
CI_KEYS = ("ciuser", "cipassword", "citype", "ciupgrade", "cicustom", "nameserver", "searchdomain", "sshkeys")


def unique_tags(value):
    """GuestHelpers::get_unique_tags: split on ; , or space, drop case-insensitive duplicates, join with ;."""
    out, seen = [], set()
    for t in re.split(r"[;,\s]+", str(value)):
        if t and t.lower() not in seen:
            seen.add(t.lower())
            out.append(t)
    return ";".join(out)


def is_ci_key(key):
    return key in CI_KEYS or bool(re.match(r"^ipconfig\d+$", key))


_DRIVE_ORDER = {"ide": 0, "sata": 1, "scsi": 2, "virtio": 3, "efidisk": 4, "tpmstate": 5, "rootfs": 0, "mp": 1,
                "unused": 6}


def key_order(key):
    """Config keys in the order PVE allocates drives (valid_drive_names: ide, sata, scsi, virtio, efidisk, tpmstate)."""
    m = re.match(r"^([a-z]+)(\d*)$", key)
    if m and m.group(1) in _DRIVE_ORDER:
        return (1, _DRIVE_ORDER[m.group(1)], int(m.group(2) or 0), key)
    return (0, 0, 0, key)


def is_drive(gtype, key):
    return bool((QEMU_DRIVE_RE if gtype == "qemu" else LXC_DRIVE_RE).match(key))


def drive_volume(gtype, value):
    d = propstring.loose_parse(value, "file" if gtype == "qemu" else "volume")
    return d.get("file" if gtype == "qemu" else "volume"), d


def schema_typed(gtype, vmid, conf):
    """Scenario config values typed as the API would store them (PVE::JSONSchema::check_prop on the create schema).

    A scenario's `agent: 1` must read back as the string "1" (property strings are strings), `onboot: true` as 1.
    """
    from ..http.schema import load  # the schema is data shared with the HTTP front, not HTTP itself

    methods = load().methods
    specs = [methods["/nodes/{node}/%s" % gtype]["POST"], methods["/nodes/{node}/%s/{vmid}/config" % gtype]["PUT"]]
    out = {}
    for k, v in conf.items():
        spec = next((m.prop(k) for m in specs if m.prop(k) is not None), None)
        if spec is None or spec.get("type") in ("array", "object"):
            out[k] = int(v) if isinstance(v, bool) else v
            continue
        val, err = propstring.check_value(spec, v)
        if err:
            raise PVEError("scenario guest %s: %s: %s" % (vmid, k, err))
        out[k] = val
    return out


class Guest:
    def __init__(self, vmid, gtype, node, config=None):
        self.vmid = int(vmid)
        self.type = gtype
        self.node = node
        self.status = "stopped"
        self.qmpstatus = None
        self.config = config or {}
        self.pending = {}
        self.pending_delete = {}
        self.snapshots = {}
        self.pool = None
        self.started = None
        self.agent_ready = None
        self.ci_generated = None  # cloud-init values at the last drive generation ([special:cloudinit])
        self._summary = None
        self._digest = None

    def to_dict(self):
        d = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return copy.deepcopy(d)

    @classmethod
    def from_dict(cls, d):
        g = cls.__new__(cls)
        g.__dict__.update(copy.deepcopy(d))
        g.pending_delete = dict(g.pending_delete)
        g.__dict__.setdefault("ci_generated", None)
        g._summary = None
        g._digest = None
        return g

    def changed(self):
        self._summary = None
        self._digest = None

    @property
    def kind(self):
        return "VM" if self.type == "qemu" else "CT"

    def conf_path(self):
        return "nodes/%s/%s/%s.conf" % (self.node, "qemu-server" if self.type == "qemu" else "lxc", self.vmid)

    def lock_file(self):
        if self.type == "qemu":
            return "/var/lock/qemu-server/lock-%s.conf" % self.vmid
        return "/run/lock/lxc/pve-config-%s.lock" % self.vmid

    def text(self):
        lines = ["%s: %s" % (k, self.config[k]) for k in sorted(self.config)]
        if self.pending or self.pending_delete:
            lines.append("[PENDING]")
            lines += ["%s: %s" % (k, self.pending[k]) for k in sorted(self.pending)]
            if self.pending_delete:
                lines.append("delete: " + ",".join(("!" if f else "") + k for k, f in sorted(self.pending_delete.items())))
        if self.ci_generated is not None:
            lines.append("[special:cloudinit]")
            lines += ["%s: %s" % (k, v) for k, v in sorted(self.ci_generated.items())]
        for name in sorted(self.snapshots):
            lines.append("[%s]" % name)
            snap = self.snapshots[name]
            lines += ["%s: %s" % (k, v) for k, v in sorted(snap["config"].items())]
        return "\n".join(lines) + "\n"

    def digest(self):
        if self._digest is None:
            self._digest = hashlib.sha1(self.text().encode()).hexdigest()
        return self._digest

    def effective_config(self):
        conf = dict(self.config)
        for k in self.pending_delete:
            conf.pop(k, None)
        conf.update(self.pending)
        return conf

    def drives(self, conf=None):
        conf = self.config if conf is None else conf
        for k, v in conf.items():
            if is_drive(self.type, k) or UNUSED_RE.match(k):
                vol, d = drive_volume(self.type, v)
                yield k, vol, d

    def volumes(self):
        for _, vol, d in self.drives():
            if vol and ":" in vol and d.get("media") != "cdrom":
                yield vol

    def maxdisk(self):
        keys = ["rootfs"] if self.type == "lxc" else ["scsi0", "virtio0", "sata0", "ide0"]
        boot = propstring.loose_parse(self.config.get("boot", ""), "legacy").get("order", "")
        if boot:
            keys = boot.split(";") + keys
        for k in keys:
            if k in self.config:
                _, d = drive_volume(self.type, self.config[k])
                if d.get("media") == "cdrom":
                    continue
                try:
                    return propstring.size_to_bytes(d.get("size", "0"))
                except ValueError:
                    return 0
        return 0

    def maxmem(self):
        mem = self.config.get("memory", 512 if self.type == "lxc" else "512")
        try:
            return int(propstring.loose_parse(mem, "current").get("current", 512)) * 1024 * 1024
        except ValueError:
            return 512 * 1024 * 1024

    def cpus(self):
        if self.type == "lxc":
            return int(self.config.get("cores", 1))
        return int(self.config.get("cores", 1)) * int(self.config.get("sockets", 1))

    def name(self):
        if self.type == "lxc":
            return self.config.get("hostname", "CT%s" % self.vmid)
        return self.config.get("name", "VM %s" % self.vmid)

    def summary(self, now, node_status="online", hastate=None):
        """The /cluster/resources entry as a pre-encoded JSON string (cached until the guest changes)."""
        s = self._summary
        if s is not None and (self.status != "running" or now - s[1] < 10) and s[2] == node_status and s[3] == hastate:
            return s[0]
        running = self.status == "running"
        d = {"id": "%s/%s" % (self.type, self.vmid), "type": self.type, "vmid": self.vmid, "node": self.node,
             "name": self.name(), "status": self.status if node_status == "online" else "unknown",
             "template": int(self.config.get("template", 0)), "maxcpu": self.cpus(), "cpu": 0.01 if running else 0,
             "maxmem": self.maxmem(), "mem": self.maxmem() // 4 if running else 0, "maxdisk": self.maxdisk(),
             "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
             "uptime": int(now - self.started) if running and self.started else 0}
        if self.config.get("tags"):
            d["tags"] = self.config["tags"]
        if self.config.get("lock"):
            d["lock"] = self.config["lock"]
        if self.pool:
            d["pool"] = self.pool
        if hastate:
            d["hastate"] = hastate
        enc = json.dumps(d, separators=(",", ":"))
        self._summary = (enc, now, node_status, hastate)
        return enc


class GuestOps:
    """Mixed into Cluster: guest operations. Sync checks raise PVEError; task work raises TaskError/PVEError."""

    # --- lookup & checks ------------------------------------------------------
    def get_guest(self, vmid, node, gtype):
        g = self.guests.get(int(vmid))
        if g is None or g.node != node or g.type != gtype:
            path = "nodes/%s/%s/%s.conf" % (node, "qemu-server" if gtype == "qemu" else "lxc", vmid)
            raise PVEError("Configuration file '%s' does not exist" % path)
        return g

    def check_lock(self, g, skiplock=False):
        lock = g.config.get("lock")
        if lock and not skiplock:
            raise PVEError("%s is locked (%s)" % (g.kind, lock))

    def flock(self, g):
        """The per-guest lock file: a running task on the guest holds it for up to 10 virtual seconds."""
        task = self.tasks.running_for(g.vmid)
        if task is None:
            return
        if task.due - self.clock.now() > 10:
            raise PVEError("can't lock file '%s' - got timeout" % g.lock_file())
        self.tasks.finish(task)

    def _duration(self, base, size=0):
        return base + size / (200 * 1024 ** 2)

    # --- disk allocation ------------------------------------------------------
    def alloc_drive(self, g, key, value, node=None, default_storage=None):
        node = node or g.node
        dk = "file" if g.type == "qemu" else "volume"
        d = propstring.loose_parse(value, dk)
        f = d.get(dk, "")
        if g.type == "qemu" and f.endswith(":cloudinit"):
            sid = f.split(":", 1)[0]
            st = self.get_storage(sid, node)
            volid = self.alloc_name(sid, node, g.vmid, "qcow2" if st.is_file else None, kind="cloudinit")
            self.add_volume(node, volid, 4 * 1024 ** 2, content="images", fmt="qcow2" if st.is_file else "raw", vmid=g.vmid)
            return propstring.render({dk: volid, "media": "cdrom"}, dk)
        m = NEW_DISK_RE.match(f)
        if not m:
            if f and f not in ("none", "cdrom") and ":" in f and not f.startswith("/"):
                sid = f.split(":", 1)[0]
                self.get_storage(sid, node)
                if self.find_volume(node, f) is None:
                    raise PVEError("volume '%s' does not exist" % f)
            return value
        sid = m.group(2) or default_storage
        if not sid:
            raise PVEError("missing storage for new disk %s" % key)
        st = self.get_storage(sid, node)
        self.check_content(g.type, sid)
        size = int(float(m.group(3)) * GiB)
        src = d.pop("import-from", None)
        if src:
            vol = self.find_volume(node, src)
            if vol is None:
                raise PVEError("volume '%s' does not exist" % src)
            size = vol["size"]
        if key in ("efidisk0", "tpmstate0"):
            size = 4 * 1024 ** 2
        fmt = d.get("format") or ("qcow2" if st.is_file and g.type == "qemu" else "raw")
        if key == "tpmstate0" or not st.is_file:
            fmt = "raw"
        self.alloc_check(sid, node, size)
        if g.type == "lxc":
            volid = self.lxc_volume_name(sid, node, g.vmid, size)
            fmt = "subvol" if "/subvol-" in "/" + volid.split(":", 1)[1] else "raw"
        else:
            volid = self.alloc_name(sid, node, g.vmid, fmt if st.is_file else None)
        self.add_volume(node, volid, size, content="images" if g.type == "qemu" else "rootdir", fmt=fmt, vmid=g.vmid)
        d[dk] = volid
        d["size"] = propstring.bytes_to_size(size)
        if not st.is_file:
            d.pop("format", None)
        return propstring.render(d, dk)

    def check_content(self, gtype, sid):
        if gtype == "qemu" and "images" not in self.storages[sid].content:
            raise PVEError("storage '%s' does not support vm images" % sid)
        if gtype == "lxc" and "rootdir" not in self.storages[sid].content:
            raise PVEError("storage '%s' does not support container directories" % sid)

    def fill_net(self, g, key, value):
        if not key.startswith("net"):
            return value
        if g.type == "qemu":
            d = propstring.parse_qemu_net(value)
            if not d.get("macaddr"):
                d["macaddr"] = self.gen_mac()
            return propstring.render_qemu_net(d)
        d = propstring.loose_parse(value)
        d.setdefault("hwaddr", self.gen_mac())
        d.setdefault("type", "veth")
        return propstring.render(d, first=("name",))

    def _free_unused_slot(self, conf):
        for i in range(256):
            if "unused%d" % i not in conf:
                return "unused%d" % i
        raise PVEError("too many unused disks")

    def _detach(self, g, key, force=False):
        value = g.config.get(key)
        if value is None:
            return
        vol, d = drive_volume(g.type, value)
        if key == "vmstate" and g.type == "qemu":
            if int(g.config.get("protection", 0)):
                raise PVEError("can't remove vmstate '%s' - protection mode enabled" % value)
            self.remove_volume(g.node, value)
            del g.config[key]
            return
        if UNUSED_RE.match(key):
            if int(g.config.get("protection", 0)):
                raise PVEError("can't remove unused disk '%s' - protection mode enabled" % vol)
            self.remove_volume(g.node, vol)
            del g.config[key]
            return
        if is_drive(g.type, key) and vol and ":" in vol and d.get("media") != "cdrom" and not vol.endswith("cloudinit"):
            if int(g.config.get("protection", 0)):
                raise PVEError("can't remove drive '%s' - protection mode enabled" % key)
            del g.config[key]
            if force:
                self.remove_volume(g.node, vol)
            else:
                g.config[self._free_unused_slot(g.config)] = vol
            return
        if is_drive(g.type, key) and vol and vol.endswith("cloudinit"):
            self.remove_volume(g.node, vol)
        del g.config[key]

    def hotpluggable(self, g, key):
        if g.type == "lxc":
            return key in LXC_HOT or key.startswith("net")
        hp = str(g.config.get("hotplug", "network,disk,usb"))
        feats = {"1": "network,disk,usb", "0": ""}.get(hp, hp).split(",")
        # qemu-server adds every cloud-init option to its fast-plug list: written to the config at once and
        # recorded in [special:cloudinit] until the drive is regenerated (GET .../cloudinit shows the gap)
        if key in FAST_PLUG or is_ci_key(key):
            return True
        if key.startswith("net"):
            return "network" in feats
        if re.match(r"^(scsi|virtio|sata)\d+$", key) or UNUSED_RE.match(key):
            return "disk" in feats
        if key.startswith("usb"):
            return "usb" in feats
        if key == "vcpus":
            return "cpu" in feats
        if key == "memory":
            return "memory" in feats
        return False

    # --- config update ---------------------------------------------------------
    def precheck_update(self, g, params, valid_key, is_root):
        if g.type == "lxc":
            return self.lxc_precheck_update(g, params, valid_key, is_root)
        opts = {k: v for k, v in params.items() if k not in CONTROL_KEYS}
        delete = propstring.split_list(params.get("delete", ""))
        revert = propstring.split_list(params.get("revert", ""))
        if params.get("skiplock") and not is_root:
            raise param_error({"skiplock": "Only root may use this option."})
        if not opts and not delete and not revert:
            raise PVEError("no options specified")
        delete = ["ide2" if k == "cdrom" else k for k in delete]
        if g.type == "qemu":
            # option_exists() knows config keys that json_config_properties hides from the API schema
            schema_key = valid_key

            def valid_key(k):
                return schema_key(k) or k in QEMU_HIDDEN_KEYS
            # qemu-server update_vm_api: revert keys first, then delete keys, each in this order of checks
            # (the messages' unbalanced quotes and the 'delete' key for a revert conflict are PVE's own)
            for k in revert:
                if not valid_key(k):
                    raise param_error({"revert": "unknown option '%s'" % k})
                if k in opts:
                    raise param_error({"delete": "you can't use '-%s' and -revert %s' at the same time" % (k, k)})
            for k in delete:
                if k in opts:
                    raise param_error({"delete": "you can't use '-%s' and -delete %s' at the same time" % (k, k)})
                if k in revert:
                    raise param_error({"revert": "you can't use '-delete %s' and -revert %s' at the same time" % (k, k)})
                if not valid_key(k):
                    raise param_error({"delete": "unknown option '%s'" % k})
        else:
            for k in delete:
                if not valid_key(k):
                    raise param_error({"delete": "unknown option '%s'" % k})
                if k in opts:
                    raise param_error({"delete": "you can't use '-%s' and -delete %s' at the same time" % (k, k)})
            for k in revert:
                if k in opts:
                    raise param_error({"revert": "you can't use '-%s' and '-revert %s' at the same time" % (k, k)})
        if params.get("digest") and params["digest"] != g.digest():
            if g.type == "qemu":
                raise PVEError("checksum mismatch (file change by other user?)")
            raise PVEError("detected modified configuration - file changed by other user? Try again.")
        if g.type == "qemu" and "vmstate" in delete and g.config.get("lock") == "suspended":
            # update_vm_api: dropping the saved state of a VM suspended to disk also drops its lock
            if "lock" not in delete:
                delete.append("lock")
        else:
            self.check_lock(g, params.get("skiplock"))
        self.flock(g)
        if g.type == "qemu" and (opts.get("memory") or "balloon" in opts):
            # the memory in effect is the new one, else the pending one, else the current one (default 512)
            memory = opts.get("memory") or g.pending.get("memory") or g.config.get("memory") or "512"
            maxmem = int(propstring.loose_parse(str(memory), "current").get("current", 512))
            balloon = opts["balloon"] if "balloon" in opts else (g.pending.get("balloon") or g.config.get("balloon"))
            if balloon and int(balloon) > maxmem:
                raise PVEError("balloon value too large (must be smaller than assigned memory)")
        elif "balloon" in opts and "memory" in (opts or g.config):
            mem = int(propstring.loose_parse(opts.get("memory", g.config.get("memory", "512")), "current")["current"])
            if int(opts["balloon"]) > mem:
                raise PVEError("balloon value too large (must be smaller than assigned memory)")
        return opts, delete, revert

    def apply_update(self, g, opts, delete, revert, force=False, warn=None):
        if g.type == "lxc":
            return self.lxc_apply_update(g, opts, delete, revert)
        running = g.status == "running"
        qemu = g.type == "qemu"
        for k in revert:
            g.pending.pop(k, None)
            g.pending_delete.pop(k, None)
        for k in delete:
            if qemu and k not in g.config and k not in g.pending:
                # update_vm_api warns and skips (a POST task then ends with WARNINGS)
                if warn:
                    warn("cannot delete '%s' - not set in current configuration!" % k)
                continue
            if running and not self.hotpluggable(g, k):
                g.pending_delete[k] = bool(force)
                g.pending.pop(k, None)
            else:
                self._detach(g, k, force)
        for k, v in opts.items():
            if is_drive(g.type, k):
                v = self.alloc_drive(g, k, str(v))
            v = self.fill_net(g, k, v)
            if k == "sshkeys":
                v = str(v)
            if qemu and k == "tags":
                v = unique_tags(v)
            if running and not self.hotpluggable(g, k):
                g.pending[k] = v
                g.pending_delete.pop(k, None)
                continue
            old = g.config.get(k)
            if old is not None and is_drive(g.type, k):
                ovol, od = drive_volume(g.type, old)
                nvol, _ = drive_volume(g.type, v)
                if ovol != nvol and ovol and ":" in ovol and od.get("media") != "cdrom":
                    if ovol.endswith("cloudinit"):
                        self.remove_volume(g.node, ovol)
                    else:
                        g.config[self._free_unused_slot(g.config)] = ovol
            g.config[k] = v
            g.pending_delete.pop(k, None)
        if qemu:
            # AbstractConfig::cleanup_pending: drop pending values equal to the current ones and pending
            # deletes of keys that are not set
            for k in [k for k, v in g.pending.items() if k in g.config and str(g.config[k]) == str(v)]:
                del g.pending[k]
            for k in [k for k in g.pending_delete if k not in g.config]:
                del g.pending_delete[k]
        g.changed()
        self.touch()

    def apply_pending(self, g):
        for k, force in list(g.pending_delete.items()):
            try:
                self._detach(g, k, force)
            except PVEError:
                pass
        for k, v in list(g.pending.items()):
            if g.type == "lxc" and is_drive("lxc", k):
                self._set_option(g, k, v)  # apply_pending_mountpoint allocates new disks only now
            else:
                g.config[k] = v
        g.pending = {}
        g.pending_delete = {}
        g.changed()

    def config_view(self, g, current=False, snapshot=None):
        if snapshot:
            snap = g.snapshots.get(snapshot)
            if snap is None:
                raise PVEError("snapshot '%s' does not exist" % snapshot)
            conf = dict(snap["config"])
        else:
            conf = dict(g.config) if current else g.effective_config()
        for k in MASKED:
            if k in conf:
                conf[k] = "**********"
        conf = dict(sorted(conf.items()))
        conf["digest"] = g.digest()
        return conf

    def pending_view(self, g):
        out = []
        keys = set(g.config) | set(g.pending) | set(g.pending_delete)
        for k in sorted(keys):
            e = {"key": k}
            if k in g.config:
                e["value"] = "**********" if k in MASKED else g.config[k]
            if k in g.pending:
                e["pending"] = "**********" if k in MASKED else g.pending[k]
            if k in g.pending_delete:
                e["delete"] = 2 if g.pending_delete[k] else 1
            out.append(e)
        # config_with_pending_array walks load_config's hash, which carries the digest as a key of its own
        out.append({"key": "digest", "value": g.digest()})
        return out

    # --- create -----------------------------------------------------------------
    def create_guest(self, gtype, node, params, user):
        vmid = int(params["vmid"])
        self.check_node_online(node)
        if vmid in self.guests:
            other = self.guests[vmid]
            raise PVEError("unable to create %s %s - %s %s already exists on node '%s'" % (
                "VM" if gtype == "qemu" else "CT", vmid, other.kind, vmid, other.node))
        pool = params.get("pool")
        if pool and pool not in self.pools:
            raise PVEError("pool '%s' does not exist" % pool)
        skip = CONTROL_KEYS | {"pool", "start", "storage", "unique", "archive", "live-restore", "ha-managed",
                               "ostemplate", "password", "ssh-public-keys", "restore", "ignore-unpack-errors",
                               "bwlimit", "unprivileged", "_is_root"}
        opts = {k: v for k, v in params.items() if k not in skip}
        if gtype == "lxc":
            self.lxc_create_checks(node, params, opts, user)
        for k, v in opts.items():
            if is_drive(gtype, k):
                vol, _ = drive_volume(gtype, str(v))
                m = NEW_DISK_RE.match(vol or "")
                sid = (m.group(2) if m else None) or (vol.split(":", 1)[0] if vol and ":" in vol else None)
                if sid and sid not in ("none", "cdrom"):
                    self.get_storage(sid, node)
                    if m:
                        self.check_content(gtype, sid)
        g = Guest(vmid, gtype, node, {"lock": "create"})
        self.guests[vmid] = g
        if pool:
            self.pool_add_guest(pool, vmid)
        self.touch()

        def work(task):
            conf = {}
            if gtype == "qemu":
                conf["smbios1"] = "uuid=%s" % uuid.UUID(int=self.rng.getrandbits(128), version=4)
                conf["vmgenid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                conf["meta"] = "creation-qemu=9.2.0,ctime=%d" % int(self.clock.now())
            for k, v in sorted(opts.items(), key=lambda kv: key_order(kv[0])):
                if is_drive(gtype, k):
                    task.log.append("allocating disk for %s" % k)
                    v = self.alloc_drive(g, k, str(v), default_storage=params.get("storage"))
                conf[k] = self.fill_net(g, k, v)
            if gtype == "qemu" and "memory" in conf:
                conf["memory"] = str(conf["memory"])
            if gtype == "lxc":
                self.lxc_create_defaults(conf, params, vmid)
            g.config = conf
            g.changed()
            self.touch()
            if params.get("start"):
                self._start(g)
                task.log.append("starting %s" % g.kind)

        def on_error(task):
            for vol in list(g.volumes()):
                self.remove_volume(node, vol)
            for (scope, volid), v in list(self.volumes.items()):
                if v.get("vmid") == vmid and v["content"] in ("images", "rootdir"):
                    self.drop_volume(scope, volid)
            self.guests.pop(vmid, None)
            self.pool_remove_guest(vmid)
            self.touch()

        size = sum(1 for k in opts if is_drive(gtype, k))
        ttype = "qmcreate" if gtype == "qemu" else "vzcreate"
        return self.tasks.start(node, ttype, vmid, user, self._duration(3 + 2 * size), work, on_error, lock_vmid=vmid)

    def scenario_guest(self, gd):
        gtype = gd.get("type", "qemu")
        vmid = int(gd["vmid"])
        node = gd.get("node") or next(iter(self.nodes))
        g = Guest(vmid, gtype, node)
        self.guests[vmid] = g
        conf = schema_typed(gtype, vmid, gd.get("config") or {})
        for k, v in sorted(conf.items(), key=lambda kv: key_order(kv[0])):
            if is_drive(gtype, k):
                v = self.alloc_drive(g, k, str(v))
            g.config[k] = self.fill_net(g, k, v)
        if gd.get("name"):
            g.config["hostname" if gtype == "lxc" else "name"] = gd["name"]
        if gd.get("template"):
            g.config["template"] = 1
        if gd.get("status", "stopped") == "running":
            g.status = "running"
            g.started = self.clock.now() - 3600
        if gd.get("pool"):
            if gd["pool"] not in self.pools:
                self.pools[gd["pool"]] = {"poolid": gd["pool"], "comment": None, "vms": [], "storage": []}
            self.pool_add_guest(gd["pool"], vmid)
        g.changed()
        return g

    # --- power --------------------------------------------------------------
    def has_cloudinit_drive(self, g):
        return any(vol and vol.endswith("cloudinit") for _, vol, _ in g.drives())

    def regenerate_cloudinit(self, g):
        """PUT .../cloudinit: apply pending cloud-init options and record what the drive now holds."""
        for k in [k for k in g.pending if is_ci_key(k)]:
            g.config[k] = g.pending.pop(k)
        for k in [k for k in g.pending_delete if is_ci_key(k)]:
            g.pending_delete.pop(k)
            g.config.pop(k, None)
        if self.has_cloudinit_drive(g):
            g.ci_generated = {k: v for k, v in g.config.items() if is_ci_key(k)}
        g.changed()
        self.touch()

    def cloudinit_pending(self, g):
        conf = g.effective_config()
        ci = dict(g.ci_generated or {})
        res = []
        for k in sorted(conf):
            if not is_ci_key(k):
                continue
            cur = "**********" if k == "cipassword" else str(conf[k])
            if g.ci_generated is not None and k not in ci:
                res.append({"key": k, "pending": cur})
            elif k in ci:
                item = {"key": k, "value": "**********" if k == "cipassword" else str(ci[k])}
                if str(ci[k]) != str(conf[k]):
                    item["pending"] = cur
                res.append(item)
            else:
                res.append({"key": k, "value": cur})
        for k in sorted(ci):
            if k not in conf:
                res.append({"key": k, "delete": 1})
        return res

    def _start(self, g):
        if int(g.config.get("template", 0)):
            raise TaskError("you can't start a vm if it's a template")
        self.apply_pending(g)
        if g.type == "qemu" and self.has_cloudinit_drive(g):
            g.ci_generated = {k: v for k, v in g.config.items() if is_ci_key(k)}
        g.status = "running"
        g.qmpstatus = "running"
        g.started = self.clock.now()
        g.changed()
        self.touch()

    def _stop(self, g):
        g.status = "stopped"
        g.qmpstatus = None
        g.started = None
        g.changed()
        self.touch()

    def power(self, g, action, params, user):
        """Start a power task; synchronous errors follow qemu-server / pve-container."""
        self.check_node_online(g.node)
        skiplock = params.get("skiplock")
        running = g.status == "running"
        paused = g.qmpstatus == "paused"
        vmid = g.vmid
        if g.type == "lxc":
            if action in ("start", "resume") and running and not (action == "resume" and paused):
                raise PVEError("CT %s already running" % vmid)
            if action in ("stop", "shutdown", "suspend") and not running:
                raise PVEError("CT %s not running" % vmid)
            if action == "reboot" and not running:
                raise PVEError("VM %s not running" % vmid)
            if action != "stop" or not skiplock:
                self.check_lock(g, skiplock)
        else:
            if action == "reboot" and paused:
                raise PVEError("VM is paused - cannot shutdown")
            if action in ("reset", "reboot", "suspend") and not running:
                raise PVEError("VM %s not running" % vmid)
            if action == "suspend" and params.get("todisk") and "vm:%s" % vmid in self.ha:
                raise PVEError("Cannot suspend HA managed VM to disk")
            if action == "stop" and params.get("overrule-shutdown") and "vm:%s" % vmid in self.ha:
                raise param_error({"overrule-shutdown": "Not applicable for HA resources."})
            # a VM suspended to disk (lock 'suspended') is resumed by starting it
            if action == "resume" and not running and g.config.get("lock") != "suspended":
                raise PVEError("VM %s not running" % vmid)
            if action == "shutdown" and paused and not params.get("forceStop"):
                raise PVEError("VM is paused - cannot shutdown")
        prefix = "qm" if g.type == "qemu" else "vz"
        ttype = {"suspend": "qmpause" if not params.get("todisk") else "qmsuspend"}.get(action, prefix + action) \
            if g.type == "qemu" else prefix + action
        hasid = "%s:%s" % ("vm" if g.type == "qemu" else "ct", vmid)
        if hasid in self.ha and action in ("start", "stop", "shutdown"):
            # HA-managed guests: the API only records the request state; the CRM does the work
            ttype = "hastart" if action == "start" else "hastop"
            self.ha[hasid]["state"] = "started" if action == "start" else "stopped"
        durations = {"start": 2, "stop": 1, "shutdown": 5, "reboot": 6, "reset": 1, "suspend": 1, "resume": 1}

        def work(task):
            suspended = g.type == "qemu" and g.config.get("lock") == "suspended" and action in ("start", "resume")
            if g.type == "qemu" and not suspended:
                self.check_lock(g, skiplock)
            if suspended and g.status != "running":
                g.config.pop("lock", None)
                if g.config.get("vmstate"):
                    self.remove_volume(g.node, g.config.pop("vmstate"))
                self._start(g)
            elif action == "start":
                if g.status == "running":
                    raise TaskError("%s %s already running" % ("VM", vmid))
                self._start(g)
            elif action in ("stop", "shutdown"):
                if g.status != "running":
                    return  # stopping a stopped guest is a successful no-op
                self._stop(g)
            elif action == "reboot":
                self._stop(g)
                self._start(g)
            elif action == "reset":
                g.started = self.clock.now()
            elif action == "suspend":
                g.qmpstatus = "paused"
                if params.get("todisk"):
                    g.status = "stopped"
                    g.config["lock"] = "suspended"
                    g.config["vmstate"] = self._save_vmstate(g, params.get("statestorage"))
                g.changed()
            elif action == "resume":
                g.qmpstatus = "running"
                g.changed()
            self.touch()

        return self.tasks.start(g.node, ttype, vmid, user, durations.get(action, 1), work, lock_vmid=vmid)

    def _save_vmstate(self, g, statestorage=None, label=None):
        """The RAM goes to a volume named in the vmstate key: 'vm-N-state-suspend-DATE' for vm_suspend --todisk,
        'vm-N-state-SNAPNAME' for a snapshot (QemuConfig::__snapshot_save_vmstate)."""
        sid = statestorage or g.config.get("vmstatestorage")
        if not sid:
            sid = next((vol.split(":", 1)[0] for k, vol, d in g.drives()
                        if vol and ":" in vol and d.get("media") != "cdrom" and not UNUSED_RE.match(k)), "local-lvm")
        st = self.get_storage(sid, g.node)
        name = "vm-%s-state-%s" % (g.vmid, label or "suspend-" + time.strftime("%Y-%m-%d", time.gmtime(self.clock.now())))
        volid = "%s:%s/%s.raw" % (sid, g.vmid, name) if st.is_file else "%s:%s" % (sid, name)
        self.add_volume(g.node, volid, g.maxmem(), content="images", fmt="raw", vmid=g.vmid)
        return volid

    def status_view(self, g):
        now = self.clock.now()
        running = g.status == "running"
        d = {"vmid": g.vmid, "status": g.status, "name": g.name(), "cpus": g.cpus(), "cpu": 0.01 if running else 0,
             "mem": g.maxmem() // 4 if running else 0, "maxmem": g.maxmem(), "maxdisk": g.maxdisk(), "disk": 0,
             "uptime": int(now - g.started) if running and g.started else 0, "netin": 0, "netout": 0,
             "diskread": 0, "diskwrite": 0, "ha": {"managed": 0}}
        ha = self.ha.get("%s:%s" % ("vm" if g.type == "qemu" else "ct", g.vmid))
        if ha:
            d["ha"] = {"managed": 1, "state": ha.get("state", "started")}
        if g.type == "qemu":
            d["qmpstatus"] = g.qmpstatus or g.status
            if running:
                d["status"] = "running"
                d["pid"] = 10000 + g.vmid
                d["running-machine"] = "pc-i440fx-9.2+pve1"
                d["running-qemu"] = "9.2.0"
            agent = propstring.loose_parse(g.config.get("agent", "0"), "enabled").get("enabled", "0")
            if agent in ("1", "on", "yes", "true"):
                d["agent"] = 1
        else:
            d["type"] = "lxc"
            d["maxswap"] = int(g.config.get("swap", 512)) * 1024 * 1024
            d["swap"] = 0
        if g.config.get("lock"):
            d["lock"] = g.config["lock"]
        if g.config.get("tags"):
            d["tags"] = g.config["tags"]
        if int(g.config.get("template", 0)):
            d["template"] = 1
        return d

    # --- destroy ----------------------------------------------------------------
    def destroy(self, g, params, user):
        self.check_node_online(g.node)
        if params.get("skiplock") and not params.get("_is_root"):
            raise param_error({"skiplock": "Only root may use this option."})
        sid = "%s:%s" % ("vm" if g.type == "qemu" else "ct", g.vmid)
        # early checks in the order of qemu-server / pve-container destroy_vm; qemu checks the config lock
        # only inside the worker (QemuServer::destroy_vm), where a 'suspended' lock does not count
        if int(g.config.get("protection", 0)):
            raise PVEError("can't remove %s %s - protection mode enabled" % (g.kind, g.vmid))
        if g.type == "lxc":
            self.check_lock(g)
        if sid in self.ha and not params.get("purge"):
            raise PVEError("unable to remove %s %s - used in HA resources and purge parameter not set." % (g.kind, g.vmid))
        if g.status == "running":
            if g.type == "qemu":
                raise PVEError("VM %s is running - destroy failed" % g.vmid)
            if not params.get("force"):
                raise PVEError("unable to destroy CT %s - container is running" % g.vmid)
        self.flock(g)

        def work(task):
            lock = g.config.get("lock")
            if g.type == "qemu" and lock and lock != "suspended" and not params.get("skiplock"):
                raise TaskError("VM is locked (%s)" % lock)
            if g.status == "running":
                self._stop(g)
            for vol in list(g.volumes()):
                self.remove_volume(g.node, vol)
                task.log.append("  Logical volume \"%s\" successfully removed." % vol.split(":", 1)[1])
            for k, vol, d in g.drives():
                if vol and vol.endswith("cloudinit"):
                    self.remove_volume(g.node, vol)
            self.guests.pop(g.vmid, None)
            if params.get("purge"):
                self.ha.pop(sid, None)
                self.access.acls = [a for a in self.access.acls if a["path"] != "/vms/%s" % g.vmid]
            self.pool_remove_guest(g.vmid)
            self.touch()

        ttype = "qmdestroy" if g.type == "qemu" else "vzdestroy"
        return self.tasks.start(g.node, ttype, g.vmid, user, 2, work, lock_vmid=g.vmid)

    # --- clone / template ----------------------------------------------------
    def clone(self, g, params, user):
        newid = int(params["newid"])
        target = params.get("target") or g.node
        if target != g.node:
            self.check_node_online(target)
        template = int(g.config.get("template", 0))
        full = params.get("full")
        full = (not template) if full is None else bool(full)
        storage = params.get("storage")
        snapname = params.get("snapname")
        pool = params.get("pool")
        if g.type == "qemu":
            self._clone_checks_qemu(g, params, target, full)
        else:
            self.lxc_clone_checks(g, params, target, full)
        src_conf = dict(g.snapshots[snapname]["config"]) if snapname else dict(g.config)
        # pve-container: the copy is created with lock 'create' while the source holds lock 'disk'
        new = Guest(newid, g.type, target, {"lock": "clone" if g.type == "qemu" else "create"})
        if g.type == "lxc":
            g.config["lock"] = "disk"
            g.changed()
        self.guests[newid] = new
        if pool:
            self.pool_add_guest(pool, newid)
        self.touch()
        total = sum(propstring.size_to_bytes(d.get("size", "0")) for _, vol, d in g.drives(src_conf)
                    if d.get("size") and d.get("media") != "cdrom")

        def work(task):
            conf = {}
            for k, v in sorted(src_conf.items(), key=lambda kv: key_order(kv[0])):
                if k in ("lock", "template", "parent", "vmstate", "snaptime") or UNUSED_RE.match(k):
                    continue
                if is_drive(g.type, k):
                    vol, d = drive_volume(g.type, v)
                    dk = "file" if g.type == "qemu" else "volume"
                    if vol and vol.endswith("cloudinit"):
                        sid = vol.split(":")[0]
                        v = self.alloc_drive(new, k, "%s:cloudinit" % sid, node=target)
                    elif vol and ":" in vol and d.get("media") != "cdrom":
                        src = self.find_volume(g.node, vol)
                        size = src["size"] if src else propstring.size_to_bytes(d.get("size", "0"))
                        sid = storage or vol.split(":")[0]
                        st = self.get_storage(sid, target)
                        if full:
                            task.log.append("drive %s: transferred 100%%" % k)
                            fmt = params.get("format") or (src or {}).get("format") or ("qcow2" if st.is_file else "raw")
                            if not st.is_file:
                                fmt = "raw"
                            self.alloc_check(sid, target, size)
                            if g.type == "lxc":
                                newvol = self.lxc_volume_name(sid, target, newid, 0 if fmt == "subvol" else size)
                            else:
                                newvol = self.alloc_name(sid, target, newid, fmt if st.is_file else None)
                            self.add_volume(target, newvol, size, content=(src or {}).get("content", "images"),
                                            fmt=fmt, vmid=newid)
                        else:
                            base = vol.split(":", 1)[1]
                            name = self.alloc_name(sid, target, newid, (src or {}).get("format", "qcow2")
                                                   if st.is_file else None).split(":", 1)[1]
                            newvol = "%s:%s/%s" % (sid, base, name)
                            self.add_volume(target, newvol, size, content=(src or {}).get("content", "images"),
                                            fmt=(src or {}).get("format", "raw"), vmid=newid, parent=base)
                        d[dk] = newvol
                        if not st.is_file:
                            d.pop("format", None)
                        v = propstring.render(d, dk)
                elif k.startswith("net"):
                    if g.type == "qemu":
                        d = propstring.parse_qemu_net(v)
                        d.pop("macaddr", None)
                    else:
                        d = propstring.loose_parse(v)
                        d.pop("hwaddr", None)
                    v = self.fill_net(new, k, propstring.render_qemu_net(d) if g.type == "qemu" else propstring.render(d))
                conf[k] = v
            if g.type == "qemu":
                conf["name"] = params.get("name") or "Copy-of-VM-%s" % src_conf.get("name", g.vmid)
                # clone_vm always gives the copy a fresh smbios1 uuid (keeping the other smbios1 fields)
                smb = propstring.loose_parse(src_conf.get("smbios1", ""))
                smb["uuid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                conf["smbios1"] = propstring.render(smb, first=("uuid",))
                if "vmgenid" in conf:
                    conf["vmgenid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            else:
                conf["hostname"] = params.get("hostname") or "Copy-of-CT-%s" % g.name()
            if params.get("description"):
                conf["description"] = params["description"]
            new.config = conf
            new.changed()
            unlock_source()
            self.touch()

        def unlock_source():
            if g.type == "lxc" and g.config.get("lock") == "disk":
                g.config.pop("lock")
                g.changed()

        def on_error(task):
            unlock_source()
            for (scope, volid), v in list(self.volumes.items()):
                if v.get("vmid") == newid and v["content"] in ("images", "rootdir"):
                    self.drop_volume(scope, volid)
            self.guests.pop(newid, None)
            self.pool_remove_guest(newid)

        ttype = "qmclone" if g.type == "qemu" else "vzclone"
        return self.tasks.start(g.node, ttype, g.vmid, user, self._duration(5, total if full else 0), work, on_error,
                                lock_vmid=newid)

    def _clone_checks_qemu(self, g, params, target, full):
        """qemu-server clone_vm early checks, in its order."""
        storage, snapname, pool = params.get("storage"), params.get("snapname"), params.get("pool")
        if pool and pool not in self.pools:
            raise PVEError("pool '%s' does not exist" % pool)
        if storage:
            st = self.get_storage(storage, g.node)
            if "images" not in st.content:
                raise param_error({"storage": "storage '%s' does not support vm images" % storage})
            if target != g.node:
                self.get_storage(storage, target)
                if not st.shared:
                    raise PVEError("can't clone to non-shared storage '%s'" % storage)
        self.check_lock(g)
        if snapname and snapname not in g.snapshots:
            raise PVEError("snapshot '%s' does not exist" % snapname)
        if storage and not full:
            raise PVEError("parameter 'storage' not allowed for linked clones")
        if params.get("format") and not full:
            raise PVEError("parameter 'format' not allowed for linked clones")
        src = g.snapshots[snapname]["config"] if snapname else g.config
        # check_storage_access_clone: the VM is 'shared' only if every volume (an ISO in a CD-ROM too) is on
        # shared storage; a target 'storage' does not change that
        sharedvm = True
        for k, vol, d in g.drives(src):
            if UNUSED_RE.match(k) or not vol or vol in ("none", "cdrom") or ":" not in vol:
                continue
            sid = vol.split(":", 1)[0]
            if sid in self.storages and not self.storages[sid].shared:
                sharedvm = False
        if target != g.node and not sharedvm:
            raise PVEError("can't clone VM to node '%s' (VM uses local storage)" % target)
        if int(params["newid"]) in self.guests:
            raise PVEError("unable to create VM %s: config file already exists" % params["newid"])
        if not full:
            for k, vol, d in g.drives(src):
                if UNUSED_RE.match(k) or not vol or ":" not in vol or d.get("media") == "cdrom" or k == "tpmstate0":
                    continue
                if "base-" not in vol:
                    raise PVEError("Linked clone feature is not supported for %s'%s' (%s)" % (
                        "a snapshot of " if snapname else "", vol, k))

    def make_template(self, g, params, user):
        # qemu-server / pve-container template: lock, snapshots, template, running, in this order
        self.check_lock(g)
        if g.snapshots:
            raise PVEError("unable to create template, because %s contains snapshots" % g.kind)
        if int(g.config.get("template", 0)) and not (g.type == "qemu" and params.get("disk")):
            raise PVEError("you can't convert a template to a template")
        if g.status == "running":
            if g.type == "qemu":
                raise PVEError("you can't convert a VM to template if VM is running")
            raise PVEError("you can't convert a CT to template if the CT is running")

        def work(task):
            for k, vol, d in list(g.drives()):
                base = "/" + vol.split(":", 1)[1].split("/")[-1] if vol and ":" in vol else ""
                if UNUSED_RE.match(k) or d.get("media") == "cdrom" or not ("/vm-" in base or "/subvol-" in base):
                    continue
                sid, name = vol.split(":", 1)
                # pve-storage create_base: vm-N-disk-M becomes base-N-disk-M, subvol-N-disk-M basevol-N-disk-M
                newname = re.sub(r"(^|/)vm-(\d+)-disk", r"\1base-\2-disk", name)
                newname = re.sub(r"(^|/)subvol-(\d+)-disk", r"\1basevol-\2-disk", newname)
                newvol = "%s:%s" % (sid, newname)
                src = self.find_volume(g.node, vol)
                if src is not None:
                    self.remove_volume(g.node, vol)
                    src = dict(src, volid=newvol)
                    self.put_volume(self.scope(sid, g.node), newvol, src)
                d["file" if g.type == "qemu" else "volume"] = newvol
                g.config[k] = propstring.render(d, "file" if g.type == "qemu" else "volume")
            g.config["template"] = 1
            g.changed()
            self.touch()

        ttype = "qmtemplate" if g.type == "qemu" else "vztemplate"
        return self.tasks.start(g.node, ttype, g.vmid, user, 2, work, lock_vmid=g.vmid)

    # --- resize ---------------------------------------------------------------
    def resize(self, g, params, user):
        if g.type == "lxc":
            return self.lxc_resize(g, params, user)
        self.check_node_online(g.node)
        if params.get("skiplock") and not params.get("_is_root"):
            raise param_error({"skiplock": "Only root may use this option."})
        disk, size = params["disk"], params["size"]

        def work(task):
            if params.get("digest") and params["digest"] != g.digest():
                raise TaskError("checksum mismatch (file change by other user?)" if g.type == "qemu" else
                                "detected modified configuration - file changed by other user? Try again.")
            self.check_lock(g, params.get("skiplock"))
            if disk not in g.config:
                raise TaskError("disk '%s' does not exist" % disk)
            vol, d = drive_volume(g.type, g.config[disk])
            if d.get("media") == "cdrom":
                raise TaskError("you can't resize a cdrom")
            cur = propstring.size_to_bytes(d.get("size", "0"))
            m = re.match(r"^(\+)?(\d+(\.\d+)?)([KMGT])?$", size)
            if not m:
                raise TaskError("invalid size '%s'" % size)
            amount = propstring.size_to_bytes(m.group(2) + (m.group(4) or ""))
            new = cur + amount if m.group(1) else amount
            if new < cur:
                raise TaskError("shrinking disks is not supported")
            if new == cur:
                return
            sid = vol.split(":")[0]
            try:
                self.alloc_check(sid, g.node, new - cur)
            except PVEError as exc:
                raise TaskError(exc.message)
            src = self.find_volume(g.node, vol)
            if src is not None:
                src = dict(src, size=new, used=new)
                self.put_volume(self.scope(sid, g.node), vol, src)
            d["size"] = propstring.bytes_to_size(new)
            g.config[disk] = propstring.render(d, "file" if g.type == "qemu" else "volume")
            task.log.append("resized %s to %s" % (disk, d["size"]))
            g.changed()
            self.touch()

        return self.tasks.start(g.node, "resize", g.vmid, user, 1, work, lock_vmid=g.vmid)

    # --- move disk ------------------------------------------------------------
    def move_disk(self, g, params, user):
        disk = params.get("disk") or params.get("volume")
        sid = params.get("storage")
        if g.type == "lxc" and params.get("storage") and params.get("target-vmid"):
            raise PVEError("either set storage or target-vmid, but not both")
        if params.get("target-vmid") is not None and int(params["target-vmid"]) != g.vmid:
            raise PVEError("pvesim: moving a disk to another guest is not simulated", 501)
        if g.type == "lxc":
            self.lxc_move_volume_checks(g, params)
        if not sid:
            raise param_error({"storage": "property is missing and it is not optional"})
        if disk not in g.config:
            raise PVEError("disk '%s' does not exist" % disk if g.type == "qemu" else "volume '%s' does not exist" % disk)
        if params.get("digest") and params["digest"] != g.digest():
            raise PVEError("checksum mismatch (file change by other user?)")
        self.check_lock(g)
        vol, d = drive_volume(g.type, g.config[disk])
        if d.get("media") == "cdrom":
            raise PVEError("you can't move a cdrom")
        st = self.get_storage(sid, g.node)
        self.check_content(g.type, sid)
        if vol.split(":")[0] == sid and not params.get("format"):
            raise PVEError("you can't move to the same storage with same format")
        dk = "file" if g.type == "qemu" else "volume"
        if g.type == "lxc":
            # pve-container move_volume holds the config lock 'disk' while it copies
            g.config["lock"] = "disk"
            g.changed()

        def unlock(task=None):
            if g.type == "lxc" and g.config.get("lock") == "disk":
                g.config.pop("lock")
                g.changed()

        def work(task):
            src = self.find_volume(g.node, vol)
            size = src["size"] if src else propstring.size_to_bytes(d.get("size", "0"))
            fmt = params.get("format") or ((src or {}).get("format") if st.is_file else "raw") or "raw"
            if not st.is_file:
                fmt = "raw"
            try:
                self.alloc_check(sid, g.node, size)
            except PVEError as exc:
                raise TaskError(exc.message)
            newvol = self.alloc_name(sid, g.node, g.vmid, fmt if st.is_file else None)
            self.add_volume(g.node, newvol, size, content=(src or {}).get("content", "images"), fmt=fmt, vmid=g.vmid)
            task.log.append("moving disk %s to %s: transferred 100%%" % (vol, newvol))
            d[dk] = newvol
            if not st.is_file:
                d.pop("format", None)
            g.config[disk] = propstring.render(d, dk)
            unlock()
            if params.get("delete"):
                self.remove_volume(g.node, vol)
            else:
                g.config[self._free_unused_slot(g.config)] = vol
            g.changed()
            self.touch()

        ttype = "qmmove" if g.type == "qemu" else "move_volume"
        return self.tasks.start(g.node, ttype, g.vmid, user, self._duration(3, propstring.size_to_bytes(d.get("size", "0"))),
                                work, unlock, lock_vmid=g.vmid)

    # --- snapshots ----------------------------------------------------------
    def snapshot_list(self, g):
        out = []
        for name, s in g.snapshots.items():
            e = {"name": name, "description": s.get("description") or "", "snaptime": s.get("snaptime") or 0}
            if s.get("parent"):
                e["parent"] = s["parent"]
            if g.type == "qemu":
                e["vmstate"] = 1 if s.get("vmstate") else 0
            out.append(e)
        cur = {"name": "current", "description": "You are here!", "digest": g.digest()}
        if g.type == "qemu":
            cur["running"] = 1 if g.status == "running" else 0
        if g.config.get("parent"):
            cur["parent"] = g.config["parent"]
        out.append(cur)
        return out

    def _failed_task(self, g, ttype, user, message):
        """A worker that dies at once: the check runs inside the task in PVE, so the call itself succeeds."""
        def work(task):
            raise TaskError(message)
        return self.tasks.start(g.node, ttype, g.vmid, user, 0, work, lock_vmid=g.vmid)

    def snapshot_create(self, g, params, user):
        name = params["snapname"]
        if name == "current":
            raise PVEError("unable to use snapshot name 'current' (reserved name)")
        if name.lower() == "pending":
            raise PVEError("unable to use snapshot name 'pending' (reserved name)")
        ttype = "qmsnapshot" if g.type == "qemu" else "vzsnapshot"
        # AbstractConfig::snapshot_prepare runs in the worker: template, lock and name checks are task errors
        err = None
        if int(g.config.get("template", 0)):
            err = "you can't take a snapshot if it's a template"
        elif g.config.get("lock"):
            err = "%s is locked (%s)" % (g.kind, g.config["lock"])
        elif name in g.snapshots:
            err = "snapshot name '%s' already used" % name
        if err:
            return self._failed_task(g, ttype, user, err)
        g.config["lock"] = "snapshot"
        g.changed()

        def work(task):
            # __snapshot_copy_config: the snapshot keeps neither the guest's description (it gets the comment
            # instead) nor its unused volumes
            conf = {k: v for k, v in g.config.items() if k not in SNAPSHOT_UNCOPIED and not UNUSED_RE.match(k)}
            snap = {"config": conf, "snaptime": int(self.clock.now()), "description": params.get("description", ""),
                    "parent": g.config.get("parent")}
            # __snapshot_prepare saves the RAM only when asked and the VM runs
            if params.get("vmstate") and g.type == "qemu" and g.status == "running":
                snap["vmstate"] = 1
                conf["vmstate"] = self._save_vmstate(g, label=name)
            conf["snaptime"] = snap["snaptime"]
            if snap["description"]:
                conf["description"] = snap["description"]
            g.snapshots[name] = snap
            g.config.pop("lock", None)
            g.config["parent"] = name
            g.changed()
            self.touch()

        return self.tasks.start(g.node, ttype, g.vmid, user, 2, work, self._unlock_on_error(g), lock_vmid=g.vmid)

    def _unlock_on_error(self, g):
        def on_error(task):
            g.config.pop("lock", None)
            g.changed()
        return on_error

    def _locked_task(self, g, ttype, user, lock, duration, work, force=False):
        """A snapshot worker that holds `lock` on the guest while it runs (set_lock checks the lock first)."""
        if not force and g.config.get("lock"):
            return self._failed_task(g, ttype, user, "%s is locked (%s)" % (g.kind, g.config["lock"]))
        g.config["lock"] = lock
        g.changed()

        def locked_work(task):
            g.config.pop("lock", None)
            work(task)
        return self.tasks.start(g.node, ttype, g.vmid, user, duration, locked_work, self._unlock_on_error(g),
                                lock_vmid=g.vmid)

    def snapshot_delete(self, g, name, params, user):
        ttype = "qmdelsnapshot" if g.type == "qemu" else "vzdelsnapshot"
        # AbstractConfig::snapshot_delete runs in the worker: existence first, then the 'snapshot-delete' lock
        if name not in g.snapshots:
            return self._failed_task(g, ttype, user, "snapshot '%s' does not exist" % name)
        if int(g.config.get("template", 0)):
            return self._failed_task(g, ttype, user, "you can't delete a snapshot if vm is a template")

        def work(task):
            snap = g.snapshots.pop(name)
            if snap["config"].get("vmstate"):
                self.remove_volume(g.node, snap["config"]["vmstate"])
            for s in g.snapshots.values():
                if s.get("parent") == name:
                    s["parent"] = snap.get("parent")
                    if snap.get("parent"):
                        s["config"]["parent"] = snap["parent"]
                    else:
                        s["config"].pop("parent", None)
            if g.config.get("parent") == name:
                if snap.get("parent"):
                    g.config["parent"] = snap["parent"]
                else:
                    g.config.pop("parent", None)
            g.changed()
            self.touch()

        return self._locked_task(g, ttype, user, "snapshot-delete", 1, work, force=params.get("force"))

    def snapshot_rollback(self, g, name, params, user):
        ttype = "qmrollback" if g.type == "qemu" else "vzrollback"
        # AbstractConfig::snapshot_rollback runs in the worker
        if name not in g.snapshots:
            return self._failed_task(g, ttype, user, "snapshot '%s' does not exist" % name)
        if int(g.config.get("template", 0)):
            return self._failed_task(g, ttype, user, "you can't rollback if vm is a template")

        def work(task):
            snap = g.snapshots[name]
            # the guest is stopped first; a snapshot with RAM starts it again from that state
            if g.status == "running":
                self._stop(g)
            conf = {k: v for k, v in snap["config"].items() if k not in ("snaptime", "vmstate", "description")}
            # __snapshot_apply_config keeps the current description and unused volumes
            conf.update((k, v) for k, v in g.config.items() if k == "description" or UNUSED_RE.match(k))
            conf["parent"] = name
            g.config = conf
            g.pending = {}
            g.pending_delete = {}
            g.changed()
            if snap.get("vmstate") or (params.get("start") and g.status != "running"):
                self._start(g)
            self.touch()

        return self._locked_task(g, ttype, user, "rollback", 2, work)

    # --- migrate --------------------------------------------------------------
    def local_disks(self, g):
        out = []
        for k, vol, d in g.drives():
            if vol and ":" in vol and d.get("media") != "cdrom":
                sid = vol.split(":")[0]
                if sid in self.storages and not self.storages[sid].shared:
                    out.append({"volid": vol, "size": propstring.size_to_bytes(d.get("size", "0")) if d.get("size") else 0,
                                "drivename": k, "is_unused": 1 if UNUSED_RE.match(k) else 0})
        return out

    def migrate_precondition(self, g, target=None):
        allowed, not_allowed = [], {}
        local = self.local_disks(g)
        for n, node in self.nodes.items():
            if n == g.node:
                continue
            missing = [d["volid"].split(":")[0] for d in local if not self.storages[d["volid"].split(":")[0]].available_on(n)]
            if node.status != "online":
                not_allowed[n] = {"unavailable_storages": missing}
            elif missing:
                not_allowed[n] = {"unavailable_storages": sorted(set(missing))}
            else:
                allowed.append(n)
        return {"running": 1 if g.status == "running" else 0, "allowed_nodes": allowed,
                "not_allowed_nodes": not_allowed, "local_disks": local, "local_resources": [],
                "mapped-resources": [], "mapped-resource-info": {}}

    def migrate(self, g, params, user):
        target = params["target"]
        if target == g.node:
            raise param_error({"target": "target is local node."})
        node = self.get_node(target)
        if node.status != "online":
            raise PVEError("target node '%s' is not online" % target)
        running = g.status == "running"
        if g.type == "qemu":
            # qemu-server migrate_vm: the lock is checked before the running state
            self.check_lock(g)
        if running and not params.get("online") and not (g.type == "lxc" and params.get("restart")):
            if g.type == "qemu":
                raise PVEError("can't migrate running VM without --online")
            raise PVEError("lxc live migration is currently not implemented")
        self.check_lock(g)
        local = self.local_disks(g)
        problem = None
        if running and local and g.type == "qemu" and not params.get("with-local-disks"):
            problem = "can't live migrate attached local disks without with-local-disks option"
        for d in local:
            sid = params.get("targetstorage") or params.get("target-storage") or d["volid"].split(":")[0]
            if not problem and not self.storages[sid].available_on(target):
                problem = "storage '%s' is not available on node '%s'" % (sid, target)
        if problem and g.type == "qemu":
            # QemuMigrate::prepare/scan_local_volumes run in the worker: the task logs the reason and
            # ends with the generic 'migration aborted'
            def failed(task):
                task.log.append("ERROR: migration aborted (duration 00:00:00): %s" % problem)
                raise TaskError("migration aborted")
            ttype = "hamigrate" if "vm:%s" % g.vmid in self.ha else "qmigrate"
            return self.tasks.start(g.node, ttype, g.vmid, user, 1, failed, lock_vmid=g.vmid)
        if problem:
            raise PVEError(problem)
        g.config["lock"] = "migrate"
        g.changed()

        def work(task):
            for d in local:
                vol = self.find_volume(g.node, d["volid"])
                if vol is not None:
                    self.remove_volume(g.node, d["volid"])
                    sid = d["volid"].split(":")[0]
                    self.put_volume(self.scope(sid, target), d["volid"], vol)
            task.log.append("migration finished successfully")
            g.config.pop("lock", None)
            g.node = target
            g.changed()
            self.touch()

        def on_error(task):
            g.config.pop("lock", None)
            g.changed()

        total = sum(d["size"] for d in local)
        ttype = "qmigrate" if g.type == "qemu" else "vzmigrate"
        if ("%s:%s" % ("vm" if g.type == "qemu" else "ct", g.vmid)) in self.ha:
            ttype = "hamigrate"
        return self.tasks.start(g.node, ttype, g.vmid, user,
                                self._duration(5, total), work, on_error, lock_vmid=g.vmid)

    # --- feature ----------------------------------------------------------------
    def _feature_volumes(self, g, conf):
        for k, vol, d in g.drives(conf):
            if UNUSED_RE.match(k) or not vol or ":" not in vol or d.get("media") == "cdrom" or vol.endswith("cloudinit"):
                continue
            yield vol, self.storages.get(vol.split(":", 1)[0])

    def shared_nodes(self, g, conf):
        """shared_nodes (qemu-server, pve-container): the nodes that reach every volume, the local node included."""
        nodes = set(self.nodes)
        for _, st in self._feature_volumes(g, conf):
            if st is None:
                continue
            if st.nodes is not None:
                nodes &= set(st.nodes)
            elif not st.shared:
                nodes &= {g.node}
        return sorted(nodes)

    def has_feature(self, g, feature, snapname=None):
        """GET .../feature: {hasFeature, nodes} from each volume's storage (pve-storage volume_has_feature)."""
        if snapname and snapname not in g.snapshots:
            raise PVEError("snapshot '%s' does not exist" % snapname)
        conf = g.snapshots[snapname]["config"] if snapname else g.config
        ok = True
        for vol, st in self._feature_volumes(g, conf):
            fmt = (self.find_volume(g.node, vol) or {}).get("format", "raw")
            capable = st is not None and (st.type in ("lvmthin", "rbd", "zfspool", "btrfs")
                                          or (st.is_file and fmt == "qcow2"))
            if feature == "snapshot":
                ok = ok and capable
            elif feature == "clone":
                # a linked clone needs a base volume (a template's) or a snapshot on a storage that can clone
                ok = ok and capable and ("/base-" in "/" + vol.split(":", 1)[1] or bool(snapname))
            elif st is None:  # copy: every storage can copy
                ok = False
        return {"hasFeature": 1 if ok else 0, "nodes": self.shared_nodes(g, conf)}

    # --- agent / interfaces ------------------------------------------------------
    def guest_ips(self, g):
        """(name, mac, [(ip, prefix)]) per net device, from static ipconfig/ip= or the DHCP range."""
        out = []
        lo, _, hi = self.dhcp_range.partition("-")
        lo_ip = ipaddress.ip_address(lo)
        span = int(ipaddress.ip_address(hi or lo)) - int(lo_ip) + 1
        for i in range(32):
            key = "net%d" % i
            if key not in g.config:
                continue
            if g.type == "qemu":
                mac = propstring.parse_qemu_net(g.config[key]).get("macaddr", "")
                ipc = propstring.loose_parse(g.config.get("ipconfig%d" % i, ""))
                ip, ip6 = ipc.get("ip", "dhcp"), ipc.get("ip6")
                name = "eth%d" % i
            else:
                d = propstring.loose_parse(g.config[key])
                mac, ip, name = d.get("hwaddr", ""), d.get("ip", "dhcp"), d.get("name", "eth%d" % i)
                ip6 = d.get("ip6")
            addrs = []
            if "/" in ip:
                iface = ipaddress.ip_interface(ip)
                addrs.append((str(iface.ip), iface.network.prefixlen, 4))
            elif ip == "dhcp":
                addrs.append((str(ipaddress.ip_address(int(lo_ip) + (g.vmid * 7 + i) % span)), 24, 4))
            if ip6 and "/" in ip6:
                iface = ipaddress.ip_interface(ip6)
                addrs.append((str(iface.ip), iface.network.prefixlen, 6))
            out.append((name, mac.lower(), addrs))
        return out

    def agent_check(self, g):
        """What qemu-server's agent_available checks before it talks to the guest agent."""
        agent = propstring.loose_parse(g.config.get("agent", ""), "enabled").get("enabled")
        if agent not in ("1", "on", "yes", "true"):
            raise PVEError("No QEMU guest agent configured")
        if g.status != "running":
            raise PVEError("VM %s is not running" % g.vmid)
        ready = g.agent_ready
        if ready is None:
            ready = self.clock.now() - (g.started or 0) >= self.clock.duration(15)
        if not ready:
            raise PVEError("QEMU guest agent is not running")

    def agent_interfaces(self, g):
        self.agent_check(g)
        res = [{"name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [
            {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
            {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128}],
            "statistics": {"rx-bytes": 0, "rx-packets": 0, "tx-bytes": 0, "tx-packets": 0,
                           "rx-errs": 0, "rx-dropped": 0, "tx-errs": 0, "tx-dropped": 0}}]
        for name, mac, addrs in self.guest_ips(g):
            addrs = list(addrs) + [(link_local_ipv6(mac), 64, 6)]
            res.append({"name": name, "hardware-address": mac,
                        "ip-addresses": [{"ip-address": a, "ip-address-type": "ipv%d" % f, "prefix": p} for a, p, f in addrs],
                        "statistics": {"rx-bytes": 1024, "rx-packets": 10, "tx-bytes": 512, "tx-packets": 5,
                                       "rx-errs": 0, "rx-dropped": 0, "tx-errs": 0, "tx-dropped": 0}})
        return {"result": res}

    def lxc_interfaces(self, g):
        if g.status != "running":
            return None
        res = [{"name": "lo", "hwaddr": "00:00:00:00:00:00", "hardware-address": "00:00:00:00:00:00",
                "inet": "127.0.0.1/8", "inet6": "::1/128",
                "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "inet", "prefix": 8},
                                 {"ip-address": "::1", "ip-address-type": "inet6", "prefix": 128}]}]
        for name, mac, addrs in self.guest_ips(g):
            addrs = list(addrs) + [(link_local_ipv6(mac), 64, 6)]
            e = {"name": name, "hwaddr": mac, "hardware-address": mac,
                 "ip-addresses": [{"ip-address": a, "ip-address-type": "inet" if f == 4 else "inet6", "prefix": p}
                                  for a, p, f in addrs]}
            for a, p, f in addrs:
                e.setdefault("inet" if f == 4 else "inet6", "%s/%d" % (a, p))
            res.append(e)
        return res


def link_local_ipv6(mac):
    """The fe80:: address a Linux guest derives from its MAC (EUI-64); real agents report it on every NIC."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return "fe80::" + ":".join("%x" % (eui[i] << 8 | eui[i + 1]) for i in range(0, 8, 2))
