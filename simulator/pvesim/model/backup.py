"""vzdump backups and restores: archives as backup volumes, the 'backup' and 'create' locks, qmrestore/vzrestore.

Facts from PVE: pve-manager PVE/API2/VZDump.pm (local guests only, silent 'OK' when none is local, the task id
is the VMID of a single guest), PVE/VZDump.pm (archive names vzdump-TYPE-VMID-YYYY_MM_DD-HH_MM_SS.EXT, the
'backup' lock, modes stop/suspend/snapshot, notes-template variables, the task log lines), pve-storage
src/PVE/Storage/Plugin.pm (backup volumes listed with format 'vma.zst', subtype, vmid, notes), qemu-server
PVE/API2/Qemu.pm create_vm with `archive` and pve-container src/PVE/API2/LXC.pm create_vm with `restore`
(the 'unable to restore VM N -' messages, force, running guests refused before the fork).
Knows nothing of HTTP; handlers/backup.py, qemu.py and lxc.py call into it.
"""

import copy
import re
import time

from .. import propstring
from .errors import PVEError, TaskError, param_error
from .guests import GiB, Guest, drive_volume, is_drive, key_order

# vzdump's `compress` values and the archive suffix each gives (1 is the old spelling of lzo)
COMPRESS_EXT = {"0": "", "1": ".lzo", "gzip": ".gz", "lzo": ".lzo", "zstd": ".zst"}
ARCHIVE_RE = re.compile(r"^(?P<sid>[^:]+):backup/vzdump-(?P<type>qemu|lxc)-(?P<vmid>\d+)-"
                        r"(?P<time>\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d)\.(?P<format>(?:vma|tar)(?:\.(?:gz|lzo|zst))?)$")
NOTES_VARS = re.compile(r"\{\{(cluster|guestname|node|vmid)\}\}")


class BackupOps:
    """Mixed into Cluster: vzdump and restore."""

    # --- vzdump ---------------------------------------------------------------------------------------
    def vzdump(self, node, params, user):
        self.check_node_online(node)
        if params.get("vmid"):
            vmids = [int(v) for v in re.split(r"[,;\s]+", str(params["vmid"])) if v]
        elif params.get("all"):
            vmids = sorted(v for v, g in self.guests.items() if g.node == node)
        else:
            raise param_error({"vmid": "property is missing and it is not optional"})
        # VZDump.pm: guests on other nodes are skipped, and with none left the call answers a plain 'OK'
        local = [v for v in vmids if v not in self.guests or self.guests[v].node == node]
        if not local:
            return None
        mode = params.get("mode", "snapshot")
        compress = str(params.get("compress", "0"))
        sid = params.get("storage", "local")
        guests = [self.guests.get(v) for v in local]
        locked = [g for g in guests if g is not None and not g.config.get("lock")]
        for g in locked:
            g.config["lock"] = "backup"
            g.changed()

        def work(task):
            st = self.storages.get(sid)
            if st is None or not st.available_on(node):
                raise TaskError("could not get storage information for '%s': storage '%s' does not exist" % (sid, sid))
            if "backup" not in st.content:
                raise TaskError("storage '%s' does not support vzdump backups" % sid)
            task.log.append("INFO: starting new backup job: vzdump %s --mode %s --storage %s%s"
                            % (" ".join(str(v) for v in local), mode, sid,
                               " --compress %s" % compress if compress != "0" else ""))
            failed = []
            for vmid, g in zip(local, guests):
                err = self._dump_one(task, node, vmid, g, g in locked, sid, mode, compress, params)
                if err:
                    failed.append(vmid)
            if failed:
                raise TaskError("job errors")
            task.log.append("INFO: Backup job finished successfully")

        def on_error(task):
            for g in locked:
                if g.config.get("lock") == "backup":
                    g.config.pop("lock", None)
                    g.changed()

        taskid = local[0] if len(local) == 1 else None
        size = sum(self._guest_bytes(g) for g in guests if g is not None)
        return self.tasks.start(node, "vzdump", taskid, user, self._duration(2, size), work, on_error)

    def _guest_bytes(self, g):
        total = 0
        for _, vol, d in g.drives():
            if vol and ":" in vol and d.get("media") != "cdrom" and d.get("size"):
                total += propstring.size_to_bytes(d["size"])
        return total

    def _dump_one(self, task, node, vmid, g, ours, sid, mode, compress, params):
        """Back up one guest into the task's log; returns an error message or None."""
        if g is None:
            task.log.append("ERROR: Backup of VM %s failed - unable to find VM '%s'" % (vmid, vmid))
            return "missing"
        task.log.append("INFO: Starting Backup of VM %s (%s)" % (vmid, g.type))
        if not ours:
            task.log.append("ERROR: Backup of VM %s failed - %s is locked (%s)" % (vmid, g.kind, g.config.get("lock")))
            return "locked"
        g.config.pop("lock", None)
        running = g.status == "running"
        if running and mode == "stop":
            task.log.append("INFO: stopping virtual guest")
        elif running and mode == "suspend":
            task.log.append("INFO: suspending guest")
        stamp = time.strftime("%Y_%m_%d-%H_%M_%S", time.gmtime(self.clock.now()))
        ext = ("vma" if g.type == "qemu" else "tar") + COMPRESS_EXT.get(compress, ".zst")
        volid = "%s:backup/vzdump-%s-%s-%s.%s" % (sid, g.type, vmid, stamp, ext)
        task.log.append("INFO: creating vzdump archive '/var/lib/vz/dump/%s'" % volid.split("/", 1)[1])
        config = {k: copy.deepcopy(v) for k, v in g.config.items() if k not in ("lock", "parent")}
        size = max(self._guest_bytes(g) // 4, 1024 ** 2)
        vol = self.add_volume(node, volid, size, content="backup", fmt=ext, vmid=vmid)
        vol["subtype"] = g.type
        vol["ctime"] = int(self.clock.now())
        vol["backup"] = {"type": g.type, "config": config}
        notes = params.get("notes-template")
        if notes:
            values = {"cluster": "pvesim", "guestname": g.name(), "node": node, "vmid": str(vmid)}
            vol["notes"] = NOTES_VARS.sub(lambda m: values[m.group(1)], notes).replace("\\n", "\n").split("\n")[0]
        if params.get("protected"):
            vol["protected"] = 1
        if running and mode in ("stop", "suspend"):
            task.log.append("INFO: resuming guest" if mode == "suspend" else "INFO: restarting guest")
        task.log.append("INFO: Finished Backup of VM %s (00:00:02)" % vmid)
        g.changed()
        self.touch()
        return None

    # --- restore --------------------------------------------------------------------------------------
    def restore(self, gtype, node, params, user):
        """POST /nodes/{node}/qemu with archive, or /nodes/{node}/lxc with ostemplate and restore=1."""
        self.check_node_online(node)
        vmid = int(params["vmid"])
        archive = params["archive"] if gtype == "qemu" else params["ostemplate"]
        label = "VM" if gtype == "qemu" else "CT"
        vol = self.find_volume(node, archive) if ":" in archive else None
        if vol is None:
            raise PVEError("volume '%s' does not exist" % archive)
        if vol.get("content") != "backup" or "backup" not in vol:
            raise PVEError("unable to parse backup archive '%s'" % archive)
        backup = vol["backup"]
        if backup["type"] != gtype:
            raise PVEError("archive '%s' is a %s backup" % (archive, "VM" if backup["type"] == "qemu" else "CT"))
        storage = params.get("storage")
        if storage:
            self.get_storage(storage, node)
            self.check_content(gtype, storage)
        old = self.guests.get(vmid)
        if old is not None:
            if gtype == "qemu":
                emsg = "unable to restore VM %s -" % vmid
                if not params.get("force") or old.node != node or old.type != gtype:
                    raise PVEError("%s %s %s already exists on node '%s'" % (emsg, old.kind, vmid, old.node))
                if int(old.config.get("protection", 0)):
                    raise PVEError("%s protection mode enabled" % emsg)
                if old.status == "running":
                    raise PVEError("%s vm is running" % emsg)
            else:
                if not (params.get("force") and old.node == node and old.type == gtype):
                    raise PVEError("%s %s already exists on node '%s'" % (old.kind, vmid, old.node))
                if old.status == "running":
                    raise PVEError("can't overwrite running container")
            self.check_lock(old)
        g = Guest(vmid, gtype, node, {"lock": "create"})
        old_volumes = list(old.volumes()) if old is not None else []
        self.guests[vmid] = g
        if params.get("pool"):
            self.pool_add_guest(params["pool"], vmid)
        self.touch()

        def work(task):
            for volid in old_volumes:
                self.remove_volume(node, volid)
            task.log.append("restore vma archive: %s" % archive if gtype == "qemu" else
                            "extracting archive '%s'" % archive)
            conf = {}
            for key, value in sorted(backup["config"].items(), key=lambda kv: key_order(kv[0])):
                if is_drive(gtype, key):
                    value = self._restore_drive(g, key, str(value), storage)
                    task.log.append("new volume ID is '%s'" % drive_volume(gtype, value)[0])
                elif key.startswith("net") and params.get("unique"):
                    value = self._new_mac(g, key, value)
                conf[key] = value
            g.config = conf
            g.changed()
            self.touch()
            if params.get("start"):
                self._start(g)

        def on_error(task):
            for volid in list(g.volumes()):
                self.remove_volume(node, volid)
            self.guests.pop(vmid, None)
            self.touch()

        ttype = "qmrestore" if gtype == "qemu" else "vzrestore"
        return self.tasks.start(node, ttype, vmid, user, self._duration(3, vol["size"]), work, on_error,
                                lock_vmid=vmid)

    def _new_mac(self, g, key, value):
        """unique: the restored guest gets new MAC addresses (fill_net then generates one)."""
        if g.type == "qemu":
            d = propstring.parse_qemu_net(value)
            d.pop("macaddr", None)
            return self.fill_net(g, key, propstring.render_qemu_net(d))
        d = propstring.loose_parse(value)
        d.pop("hwaddr", None)
        return self.fill_net(g, key, propstring.render(d, first=("name",)))

    def _restore_drive(self, g, key, value, storage):
        """A drive of the backed-up config on a new volume: on `storage`, else on the storage it was on."""
        vol, d = drive_volume(g.type, value)
        if not vol or ":" not in vol or d.get("media") == "cdrom":
            return value
        dk = "file" if g.type == "qemu" else "volume"
        size = propstring.size_to_bytes(d.pop("size", "1G"))
        d[dk] = "%s:%s" % (storage or vol.split(":", 1)[0], max(size / GiB, 0.001))
        return self.alloc_drive(g, key, propstring.render(d, dk))
