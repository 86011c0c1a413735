"""LXC containers as pve-container handles them: create checks, volume naming, config updates, hotplug, features.

Sources: pve-container src/PVE/API2/LXC.pm (create_vm, clone_vm, resize_vm), src/PVE/API2/LXC/Config.pm
(update_vm), src/PVE/LXC/Config.pm (update_pct_config, vmconfig_hotplug_pending, vmconfig_apply_pending,
$LXC_FASTPLUG_OPTIONS), src/PVE/LXC.pm (check_ct_modify_config_perm, alloc_disk).
"""

import base64
import binascii
import re
import struct

from .. import propstring
from .errors import PVEError, TaskError, param_error

# vmconfig_hotplug_pending: written to the config at once on a running container ...
FASTPLUG = {"description", "onboot", "startup", "protection", "hostname", "hookscript", "cores", "tags", "lock"}
# ... applied live (cgroup / veth changes), the rest stays pending until the next start
HOT_SET = {"cpulimit", "cpuunits", "memory", "swap"}
HOT_DELETE = {"swap", "cpulimit", "cpuunits"}
REQUIRED = ("memory", "rootfs", "ostype")
MP_RE = re.compile(r"^mp\d+$")
NET_RE = re.compile(r"^net\d+$")


KEY_TYPE_RE = re.compile(r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)"
                         r"|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$")


def valid_ssh_key(line):
    """What `ssh-keygen -l` accepts of one authorized_keys line: [options] TYPE BASE64-BLOB [comment]."""
    tokens = line.split()
    for i, tok in enumerate(tokens[:-1]):
        if KEY_TYPE_RE.match(tok):
            try:
                blob = base64.b64decode(tokens[i + 1], validate=True)
                (n,) = struct.unpack(">I", blob[:4])
                return blob[4:4 + n].decode("ascii", "replace") == tok
            except (binascii.Error, ValueError, struct.error):
                return False
    return False


def normalise_options(opts):
    """update_pct_config's rewrites (create_vm runs it too): nameserver/searchdomain lists joined by spaces after
    pve_verify_ip / pve_verify_dns_name, tags de-duplicated, description as write_pct_config stores it (one '#'
    line per line) and parse_pct_config reads it back: every line ends with a newline."""
    from .guests import unique_tags

    out = dict(opts)
    if "nameserver" in out:
        items = propstring.split_list(out["nameserver"])
        for ip in items:
            try:
                propstring.check_named("ip", ip)
            except propstring.FormatError as exc:
                raise PVEError(str(exc))
        out["nameserver"] = " ".join(items)
    if "searchdomain" in out:
        items = propstring.split_list(out["searchdomain"])
        for name in items:
            if not propstring.DNS_RE.match(name):
                raise PVEError("value does not look like a valid DNS name")
        out["searchdomain"] = " ".join(items)
    if "tags" in out:
        out["tags"] = unique_tags(out["tags"])
    if "description" in out:
        lines = str(out["description"]).split("\n")
        while lines and lines[-1] == "":
            lines.pop()
        out["description"] = "".join(line + "\n" for line in lines)
    return out


def perm_denied(what):
    return PVEError("Permission check failed (%s)" % what, 403)


def mount_type(value):
    """classify_mountpoint: an absolute path is a bind mount (or a device under /dev), else a volume."""
    vol = propstring.loose_parse(str(value), "volume").get("volume", "")
    if vol.startswith("/"):
        return "device" if vol.startswith("/dev/") else "bind"
    return "volume"


def features_change(old, new):
    """check_ct_modify_config_perm's view of a features change: None, 'nesting' or 'other'."""
    old = propstring.loose_parse(old or "")
    new = propstring.loose_parse(new or "")
    changed = {k for k in set(old) | set(new) if old.get(k, "") != new.get(k, "")}
    if not changed:
        return None
    return "nesting" if changed == {"nesting"} else "other"


def modify_perm_checks(authid, vmid, unprivileged, old_features, opts, delete, can_allocate):
    """What check_ct_modify_config_perm refuses for anyone but root@pam (an API token of root is not root@pam)."""
    if authid == "root@pam":
        return
    for k, v in opts.items():
        if (k == "rootfs" or MP_RE.match(k)) and mount_type(v) != "volume":
            raise perm_denied("mount point type %s is only allowed for root@pam" % mount_type(v))
    if "features" in opts or "features" in delete:
        if not unprivileged:
            raise perm_denied("changing feature flags for privileged container is only allowed for root@pam")
        change = features_change(old_features, None if "features" in delete else opts["features"])
        if change == "other":
            raise perm_denied("changing feature flags (except nesting) is only allowed for root@pam")
        if change == "nesting" and not can_allocate:
            raise perm_denied("/vms/%s, VM.Allocate" % vmid)


class LxcOps:
    """Mixed into Cluster next to GuestOps: the parts where pve-container differs from qemu-server."""

    # --- volumes ----------------------------------------------------------------------------------------
    def lxc_volume_name(self, sid, node, vmid, size):
        """alloc_disk: a raw image on dir/nfs-style storage when a size is given, a subvol for size 0 (and always
        on zfspool), a raw volume elsewhere (lvm, lvmthin, rbd)."""
        st = self.storages[sid]
        if st.type == "zfspool" or (st.is_file and size == 0):
            return self.alloc_name(sid, node, vmid, "subvol", prefix="subvol")
        return self.alloc_name(sid, node, vmid, "raw" if st.is_file else None)

    # --- create -----------------------------------------------------------------------------------------
    def lxc_create_checks(self, node, params, opts, authid):
        """create_vm before the fork: ostemplate, storages, mount points, feature permissions."""
        keys = params.get("ssh-public-keys")
        if keys is not None and not all(valid_ssh_key(ln) for ln in str(keys).split("\n") if ln.strip()):
            raise PVEError("SSH public key validation error")  # PVE::Tools::validate_ssh_public_keys
        tmpl = params["ostemplate"]
        if self.find_volume(node, tmpl) is None:
            raise PVEError("volume '%s' does not exist" % tmpl)
        storage = params.get("storage") or "local"
        for k in [k for k in opts if k == "rootfs" or MP_RE.match(k)]:
            if re.match(r"^\d+(\.\d+)?$", str(opts[k])):
                opts[k] = "%s:%s" % (storage, opts[k])  # a bare size means the default storage
        mps = [k for k in opts if MP_RE.match(k)]
        if mps and "rootfs" not in opts:
            raise PVEError("mount points configured, but 'rootfs' not set - aborting")
        sids = []
        for k in ["rootfs"] + sorted(mps):
            if k not in opts:
                continue
            if mount_type(opts[k]) != "volume":
                if authid != "root@pam":
                    raise PVEError("Only root can pass arbitrary filesystem paths.")
                continue
            vol = propstring.loose_parse(str(opts[k]), "volume").get("volume", "")
            sids.append(vol.split(":", 1)[0])
        if "rootfs" not in opts:
            sids.append(storage)
        for sid in sids:
            st = self.get_storage(sid, node)
            if "rootdir" not in st.content:
                raise param_error({"storage": "storage '%s' does not support container directories" % sid})
        if "rootfs" not in opts:
            opts["rootfs"] = "%s:4" % storage  # create_vm: 'defaults to 4GB'
        opts.update(normalise_options(opts))
        if opts.get("description") == "":
            del opts["description"]

    def lxc_create_defaults(self, conf, params, vmid):
        """create_vm after the unpack: OS detection, then hostname/memory/swap defaults, unprivileged flag."""
        conf.setdefault("arch", "amd64")
        conf.setdefault("ostype", params["ostemplate"].split("/")[-1].split("-")[0])
        conf.setdefault("hostname", "CT%s" % vmid)
        conf.setdefault("memory", 512)
        conf.setdefault("swap", 512)
        if params.get("unprivileged"):
            conf["unprivileged"] = 1

    # --- clone --------------------------------------------------------------------------------------------
    def lxc_clone_checks(self, g, params, target, full):
        """API2/LXC.pm clone_vm before the fork, in its order."""
        storage, snapname, pool, newid = params.get("storage"), params.get("snapname"), params.get("pool"), \
            int(params["newid"])
        if pool and pool not in self.pools:
            raise PVEError("pool '%s' does not exist" % pool)
        if storage:
            st = self.get_storage(storage, g.node)
            if target != g.node:
                self.get_storage(storage, target)
                if not st.shared:
                    raise PVEError("can't clone to non-shared storage '%s'" % storage)
        self.check_lock(g)  # set_lock($vmid, 'disk')
        if newid in self.guests:  # create_and_lock_config -> check_vmid_unused
            other = self.guests[newid]
            raise PVEError("%s %s already exists on node '%s'" % (other.kind, newid, other.node))
        if storage and not full:
            raise PVEError("parameter 'storage' not allowed for linked clones")
        if snapname and snapname not in g.snapshots:
            raise PVEError("snapshot '%s' does not exist" % snapname)
        conf = g.snapshots[snapname]["config"] if snapname else g.config
        running = g.status == "running"
        sharedvm = True
        for k in sorted(conf):
            if not (k == "rootfs" or MP_RE.match(k)):
                continue
            if mount_type(conf[k]) != "volume":
                raise PVEError("unable to clone mountpoint '%s' (type %s)" % (k, mount_type(conf[k])))
            vol = propstring.loose_parse(str(conf[k]), "volume").get("volume", "")
            st = self.storages.get(storage or vol.split(":", 1)[0])
            if st is not None and not st.shared:
                sharedvm = False
            if full:
                if running and not snapname:
                    raise PVEError("Cannot do full clones on a running container without snapshots")
            elif not self._lxc_can_link(vol, snapname):
                raise PVEError("Linked clone feature for '%s' is not available" % vol)
        if target != g.node and not sharedvm:
            raise PVEError("can't clone CT to node '%s' (CT uses local storage)" % target)

    def _lxc_can_link(self, vol, snapname):
        """volume_has_feature('clone'): a base volume (template), or a snapshot on a storage that clones them."""
        st = self.storages.get(vol.split(":", 1)[0])
        if re.search(r"(^|/)base(vol)?-", vol.split(":", 1)[1]):
            return True
        return bool(snapname) and st is not None and st.type in ("lvmthin", "rbd", "zfspool", "btrfs")

    # --- resize / move_volume ---------------------------------------------------------------------------
    def _lxc_resize_check(self, g, params):
        """resize_vm's load_and_check: run before the fork (errors are synchronous) and again in the worker."""
        self.check_lock(g)
        if params.get("digest") and params["digest"] != g.digest():
            raise PVEError("detected modified configuration - file changed by other user? Try again.")
        disk = params["disk"]
        if disk not in g.config:
            raise PVEError("disk '%s' does not exist" % disk)
        d = propstring.loose_parse(str(g.config[disk]), "volume")
        vol = d.get("volume", "")
        owner = re.search(r"(?:^|/)(?:vm|subvol|base|basevol)-(\d+)-", vol.split(":", 1)[-1])
        if owner and int(owner.group(1)) != g.vmid:
            raise PVEError("can't resize mount point owned by another container (%s)" % owner.group(1))
        m = re.match(r"^(\+)?(\d+(\.\d+)?[KMGT]?)$", params["size"])
        cur = propstring.size_to_bytes(d.get("size", "0"))
        amount = propstring.size_to_bytes(m.group(2))
        new = cur + amount if m.group(1) else amount
        if new < cur:
            raise PVEError("unable to shrink disk size")
        if new == cur:
            raise PVEError("disk is already at specified size")
        return disk, d, vol, cur, int(new)

    def lxc_resize(self, g, params, user):
        self.check_node_online(g.node)
        self._lxc_resize_check(g, params)

        def work(task):
            try:
                disk, d, vol, cur, new = self._lxc_resize_check(g, params)
                self.alloc_check(vol.split(":", 1)[0], g.node, new - cur)
            except PVEError as exc:
                raise TaskError(exc.message)
            src = self.find_volume(g.node, vol)
            if src is not None:
                self.put_volume(self.scope(vol.split(":", 1)[0], g.node), vol, dict(src, size=new, used=new))
            d["size"] = propstring.bytes_to_size(new)
            g.config[disk] = propstring.render(d, "volume")
            g.changed()
            self.touch()

        return self.tasks.start(g.node, "resize", g.vmid, user, 1, work, lock_vmid=g.vmid)

    def lxc_move_volume_checks(self, g, params):
        """move_volume (to a storage) under the config lock, before the fork."""
        self.check_lock(g)
        if g.status == "running":
            raise PVEError("cannot move volumes of a running container")
        key = params.get("volume")
        if key and key.startswith("unused"):
            raise PVEError("cannot move volume '%s', only configured volumes can be moved to another storage" % key)

    # --- config update --------------------------------------------------------------------------------
    def lxc_precheck_update(self, g, params, valid_key, is_root):
        """API2/LXC/Config.pm update_vm: revert and delete conflicts, then (under the config lock) lock, digest."""
        from .guests import CONTROL_KEYS

        opts = {k: v for k, v in params.items() if k not in CONTROL_KEYS and not k.startswith("_")}
        delete = propstring.split_list(params.get("delete", ""))
        revert = propstring.split_list(params.get("revert", ""))
        if params.get("skiplock") and not is_root:
            raise param_error({"skiplock": "Only root may use this option."})
        if not opts and not delete and not revert:
            raise PVEError("no options specified")
        for k in revert:
            if not valid_key(k):
                raise param_error({"revert": "unknown option '%s'" % k})
            if k in opts:
                raise param_error({"revert": "you can't use '-%s' and '-revert %s' at the same time" % (k, k)})
        for k in delete:
            if k in opts:
                raise param_error({"delete": "you can't use '-%s' and -delete %s' at the same time" % (k, k)})
            if k in revert:
                raise param_error({"delete": "you can't use '-delete %s' and '-revert %s' at the same time" % (k, k)})
            if not valid_key(k):
                raise param_error({"delete": "unknown option '%s'" % k})
        self.check_lock(g)
        if params.get("digest") and params["digest"] != g.digest():
            raise PVEError("detected modified configuration - file changed by other user? Try again.")
        self.flock(g)
        return opts, delete, revert

    def lxc_update_checks(self, g, opts, delete):
        """update_pct_config's dies, all before anything is written (PVE writes the config only at the end)."""
        protected = int(g.config.get("protection", 0))
        for k in delete:
            if k not in g.config and k not in g.pending:
                continue
            if k in REQUIRED:
                raise PVEError("unable to delete required option '%s'" % k)
            if (MP_RE.match(k) or k.startswith("unused")) and protected:
                raise PVEError("can't remove CT %s drive '%s' - protection mode enabled" % (g.vmid, k))
            if k == "unprivileged":
                raise PVEError("unable to delete read-only option: '%s'" % k)
        for k in sorted(opts):
            if k == "rootfs" or MP_RE.match(k):
                if protected:
                    raise PVEError("can't update CT %s drive '%s' - protection mode enabled" % (g.vmid, k))
                if mount_type(opts[k]) == "volume":
                    vol = propstring.loose_parse(str(opts[k]), "volume").get("volume", "")
                    sid = vol.split(":", 1)[0]
                    st = self.get_storage(sid)
                    if "rootdir" not in st.content:
                        raise PVEError("storage '%s' does not allow content type 'rootdir' (Container)" % sid)
            elif k == "unprivileged":
                raise PVEError("unable to modify read-only option: '%s'" % k)

    def lxc_hot(self, g, key, deleting):
        """Does a running container take this change now (vmconfig_hotplug_pending), or keep it pending?"""
        if key in FASTPLUG or NET_RE.match(key):
            return True
        if deleting:
            return key in HOT_DELETE or key.startswith("unused")
        if key in HOT_SET:
            return True
        # a new mount point or device is hotplugged; changing an existing one waits for the restart
        return bool(MP_RE.match(key) or re.match(r"^dev\d+$", key)) and key not in g.config

    def lxc_apply_update(self, g, opts, delete, revert):
        self.lxc_update_checks(g, opts, delete)
        opts = normalise_options(opts)
        running = g.status == "running"
        for k in revert:
            g.pending.pop(k, None)
            g.pending_delete.pop(k, None)
        for k in delete:
            if k not in g.config and k not in g.pending:
                continue  # 'cannot delete ... - not set in current configuration!' is only a warning
            g.pending.pop(k, None)
            if running and not self.lxc_hot(g, k, True):
                g.pending_delete[k] = False
            else:
                self._detach(g, k)
                g.pending_delete.pop(k, None)
        for k, v in sorted(opts.items()):
            if k == "description" and not v:
                self._detach(g, k)  # an empty description is not written at all
                continue
            if running and not self.lxc_hot(g, k, False):
                g.pending[k] = self.fill_net(g, k, v) if NET_RE.match(k) else v
                g.pending_delete.pop(k, None)
                continue
            self._set_option(g, k, v)
        # cleanup_pending: a pending value equal to the current one is no change
        for k in [k for k, v in g.pending.items() if k in g.config and str(g.config[k]) == str(v)]:
            del g.pending[k]
        g.changed()
        self.touch()

    def _set_option(self, g, key, value):
        from .guests import drive_volume, is_drive
        if is_drive("lxc", key):
            value = self.alloc_drive(g, key, str(value))
            old = g.config.get(key)
            if old is not None:
                ovol, _ = drive_volume("lxc", old)
                nvol, _ = drive_volume("lxc", value)
                if ovol != nvol and ovol and ":" in ovol:
                    g.config[self._free_unused_slot(g.config)] = ovol
        g.config[key] = self.fill_net(g, key, value)
        g.pending.pop(key, None)
        g.pending_delete.pop(key, None)
