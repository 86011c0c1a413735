"""The permission checks PVE 9 makes in the code of the guest endpoints, beyond the schema's `permissions`.

qemu-server PVE/API2/Qemu.pm: create_vm (VM.Allocate, $check_storage_access, $check_vm_modify_config_perm,
$check_vm_create_serial_perm, PVE::QemuServer::check_bridge_access); pve-container PVE/LXC.pm
check_ct_modify_config_perm and API2/LXC.pm create_vm; pve-guest-common PVE::GuestHelpers::check_vnet_access;
pve-storage PVE::Storage::check_volume_access. root@pam passes them all (an API token of root is not root@pam).
"""

import re

from .. import propstring
from ..model.errors import PVEError
from ..model.guests import NEW_DISK_RE, drive_volume, is_drive

# qemu-server's option tables of $check_vm_modify_config_perm (PVE 9)
QEMU_CPU = {"cores", "cpu", "runningcpu", "cpulimit", "cpuunits", "numa", "smp", "sockets", "vcpus"}
QEMU_MEMORY = {"memory", "balloon", "shares", "allow-ksm"}
QEMU_HWTYPE = {"acpi", "hotplug", "kvm", "machine", "runningmachine", "scsihw", "smbios1", "tablet", "vga", "watchdog",
               "audio0", "rng0"}
QEMU_GENERAL = {"agent", "autostart", "bios", "description", "keyboard", "localtime", "migrate_downtime",
                "migrate_speed", "name", "onboot", "ostype", "protection", "reboot", "startdate", "startup", "tdf",
                "template"}
QEMU_DISKOPTS = {"boot", "bootdisk", "vmstatestorage"}
QEMU_CLOUDINIT = {"cicustom", "cipassword", "citype", "ciuser", "ciupgrade", "nameserver", "searchdomain", "sshkeys"}
# create_vm's parameters that are not guest options (extracted before the config checks)
QEMU_CREATE_PARAMS = {"node", "vmid", "archive", "bwlimit", "force", "pool", "start", "ha-managed", "storage",
                      "unique", "live-restore", "import-working-storage"}
LXC_CREATE_PARAMS = {"node", "vmid", "bwlimit", "start", "ha-managed", "unprivileged", "restore", "unique", "force",
                     "password", "ssh-public-keys", "pool", "ostemplate", "storage", "ignore-unpack-errors"}
VOLNAME_RE = re.compile(r"^(?P<sid>[^:]+):(?:(?P<dir>iso|vztmpl|backup|snippets|import)/(?P<file>.+)|"
                        r"(?:(?P<base>\d+)/)?(?:base|vm|subvol|basevol)-(?P<owner>\d+)-.+)$")
BACKUP_OWNER_RE = re.compile(r"^vzdump-(?:qemu|lxc|openvz)-(\d+)-")


def perm_denied(what):
    return PVEError("Permission check failed (%s)" % what, 403)


def is_root_pam(ctx):
    return ctx.authid == "root@pam"


def check_vm_perm(ctx, vmid, pool, privs, any_=False):
    """RPCEnvironment::check_vm_perm: the pool's ACL counts for a guest that is not in the pool yet."""
    if pool and ctx.can("/pool/" + pool, privs, any_):
        return
    ctx.check("/vms/%s" % vmid, privs, any_)


def assert_tag_permissions(ctx, vmid):
    """PVE::GuestHelpers::assert_tag_permissions: VM.Config.Options on /vms/<vmid> with no pool, so at creation (the
    guest is in no pool yet) a pool's ACL does not count. The tag lists of datacenter.cfg user-tag-access are not
    modelled: its default, user-allow 'free', allows every tag."""
    check_vm_perm(ctx, vmid, None, ["VM.Config.Options"])


def check_vnet_access(ctx, net):
    """SDN.Use on the bridge, or on its VLAN when a tag is set, and on every trunk VLAN. Without SDN zones every
    bridge is a vnet of the zone 'localnetwork'."""
    if is_root_pam(ctx):
        return
    bridge = net.get("bridge")
    if not bridge:
        return
    path = "/sdn/zones/localnetwork/" + bridge
    ctx.check(path + ("/%s" % net["tag"] if net.get("tag") not in (None, "") else ""), ["SDN.Use"], True)
    for tag in [t for t in str(net.get("trunks") or "").split(";") if t]:
        ctx.check("%s/%s" % (path, tag), ["SDN.Use"], True)


def check_bridge_access(ctx, gtype, conf):
    """check_bridge_access of qemu-server (every netN of conf) and pve-container (one netN value)."""
    for key in sorted(conf):
        if re.match(r"^net\d+$", key) and conf[key] is not None:
            raw = str(conf[key])
            check_vnet_access(ctx, propstring.parse_qemu_net(raw) if gtype == "qemu" else propstring.loose_parse(raw))


def check_volume_access(ctx, vmid, volid, expect=None):
    """PVE::Storage::check_volume_access: read access to an existing volume."""
    if is_root_pam(ctx):
        return
    if ":" not in volid:
        raise PVEError("Only root can pass arbitrary filesystem paths.")
    m = VOLNAME_RE.match(volid)
    sid = volid.split(":", 1)[0]
    vtype = (m.group("dir") if m and m.group("dir") else "images") if m else None
    if expect and vtype and vtype != expect and not (expect == "rootdir" and vtype == "images"):
        raise PVEError("unable to use volume %s - content type needs to be '%s'" % (volid, expect))
    if ctx.can("/storage/" + sid, ["Datastore.Allocate"]):
        return
    owner = None
    if m and m.group("owner"):
        owner = int(m.group("owner"))
    elif vtype == "backup":
        b = BACKUP_OWNER_RE.match(m.group("file"))
        owner = int(b.group(1)) if b else None
    if vtype in ("iso", "vztmpl", "import"):
        ctx.check("/storage/" + sid, ["Datastore.AllocateSpace", "Datastore.Audit"], True)
    elif owner is not None and vmid is not None and owner == int(vmid):
        return  # the guest's own volume
    elif vtype == "backup" and owner:
        ctx.check("/storage/" + sid, ["Datastore.AllocateSpace"])
        ctx.check("/vms/%s" % owner, ["VM.Backup"])
    elif vtype == "images" and owner:
        ctx.check("/storage/" + sid, ["Datastore.Audit"])
        ctx.check("/vms/%s" % owner, ["VM.Config.Disk"])
    else:
        raise PVEError("missing privileges to access %s" % volid, 403)


def vzdump(ctx):
    """pve-manager PVE/API2/VZDump.pm: VM.Backup on every guest of this node it backs up, Datastore.AllocateSpace
    on the target storage; root-only and Sys.Modify parameters (its permissions description)."""
    p = ctx.params
    if is_root_pam(ctx):
        return
    for key in ("tmpdir", "dumpdir", "script", "job-id"):
        if p.get(key) is not None:
            from ..model.errors import param_error
            raise param_error({key: "Only root may set this option."})
    if any(p.get(k) is not None for k in ("bwlimit", "performance", "ionice")):
        ctx.check("/", ["Sys.Modify"])
    vmids = [int(v) for v in re.split(r"[,;\s]+", str(p.get("vmid") or "")) if v]
    for vmid in vmids:
        g = ctx.cluster.guests.get(vmid)
        if g is not None and g.node == p["node"]:
            ctx.check("/vms/%s" % vmid, ["VM.Backup"])
    storage = p.get("storage") or "local"
    ctx.check("/storage/" + storage, ["Datastore.AllocateSpace"])
    if p.get("prune-backups") is not None:
        ctx.check("/storage/" + storage, ["Datastore.Allocate"])


def check_allocate(ctx, vmid, pool, restore=False, force=False):
    """create_vm: VM.Allocate on /vms/<vmid> or the pool; for a forced restore over an existing guest VM.Backup."""
    if ctx.can("/vms/%s" % vmid, ["VM.Allocate"]) or (pool and ctx.can("/pool/" + pool, ["VM.Allocate"])):
        return
    if restore and force and int(vmid) in ctx.cluster.guests and ctx.can("/vms/%s" % vmid, ["VM.Backup"]):
        return
    if pool:
        raise perm_denied("/pool/%s, VM.Allocate" % pool)
    raise perm_denied("/vms/%s, VM.Allocate" % vmid)


def qemu_option_privileges(key):
    """$check_vm_modify_config_perm for one option: (privileges, any) or None where another check decides."""
    if is_drive("qemu", key) or key in ("cdrom", "tags") or re.match(r"^(?:unused|serial|usb|hostpci|virtiofs)\d+$",
                                                                     key):
        return None
    if key in QEMU_CPU or re.match(r"^numa\d+$", key):
        return ["VM.Config.CPU"], False
    if key in QEMU_MEMORY:
        return ["VM.Config.Memory"], False
    if key in QEMU_HWTYPE:
        return ["VM.Config.HWType"], False
    if key in QEMU_GENERAL:
        return ["VM.Config.Options"], False
    if key == "freeze":
        return ["VM.PowerMgmt"], False
    if key in QEMU_DISKOPTS:
        return ["VM.Config.Disk"], False
    if re.match(r"^net\d+$", key) or key == "running-nets-host-mtu":
        return ["VM.Config.Network"], False
    if key in QEMU_CLOUDINIT or re.match(r"^ipconfig\d+$", key):
        return ["VM.Config.Cloudinit", "VM.Config.Network"], True
    if key == "vmstate":
        return ["VM.Config.Disk", "VM.PowerMgmt"], False
    raise PVEError("only root can set '%s' config" % key, 403)


def qemu_create(ctx):
    """The checks of qemu-server create_vm before the worker starts (a restore: see the archive branch)."""
    p = ctx.params
    vmid, pool, storage = p["vmid"], p.get("pool"), p.get("storage")
    if storage is not None:
        ctx.check("/storage/" + storage, ["Datastore.AllocateSpace"])
    if p.get("ha-managed"):
        ctx.check("/", ["Sys.Console"])
    if p.get("start"):
        check_vm_perm(ctx, vmid, pool, ["VM.PowerMgmt"])
    check_allocate(ctx, vmid, pool, bool(p.get("archive")), bool(p.get("force")))
    if p.get("archive"):
        check_volume_access(ctx, vmid, p["archive"], "backup")
    conf = {k: v for k, v in p.items() if k not in QEMU_CREATE_PARAMS}
    if not conf or is_root_pam(ctx):
        return
    for k, v in conf.items():  # $check_storage_access
        if not is_drive("qemu", k):
            continue
        vol, d = drive_volume("qemu", str(v))
        cdrom = d.get("media") == "cdrom" or k == "cdrom"
        if not vol or vol in ("none", "cloudinit") or vol.endswith(":cloudinit"):
            continue
        if cdrom and vol == "cdrom":
            ctx.check("/", ["Sys.Console"])
        elif not cdrom and NEW_DISK_RE.match(vol):
            sid = NEW_DISK_RE.match(vol).group(2) or storage
            if not sid:
                raise PVEError("no storage ID specified (and no default storage)")
            ctx.check("/storage/" + sid, ["Datastore.AllocateSpace"])
        else:
            check_volume_access(ctx, vmid, vol)
    for k in conf:
        need = qemu_option_privileges(k)
        if need:
            check_vm_perm(ctx, vmid, pool, need[0], need[1])
        elif k == "tags":
            assert_tag_permissions(ctx, vmid)
    for k, v in conf.items():  # $check_vm_create_serial_perm
        if re.match(r"^serial\d+$", k):
            if v != "socket":
                raise PVEError("only root can set '%s' config for real devices" % k, 403)
            check_vm_perm(ctx, vmid, pool, ["VM.Config.HWType"])
    check_bridge_access(ctx, "qemu", conf)


def lxc_option_check(ctx, vmid, pool, key, value, delete=False):
    """check_ct_modify_config_perm for one option (the feature flags stay in model.lxc.modify_perm_checks)."""
    if key in ("cores", "cpuunits", "cpulimit"):
        check_vm_perm(ctx, vmid, pool, ["VM.Config.CPU"])
    elif key == "rootfs" or re.match(r"^mp\d+$", key):
        check_vm_perm(ctx, vmid, pool, ["VM.Config.Disk"])
        if delete:
            return
        vol, _ = drive_volume("lxc", str(value))
        if re.match(r"^\d+(\.\d+)?$", vol or ""):  # a bare size: on the create call's default storage
            vol = "%s:%s" % (ctx.params.get("storage") or "local", vol)
        m = re.match(r"^([^:\s]+):(\d+(\.\d+)?)$", vol or "")
        if m:
            ctx.check("/storage/" + m.group(1), ["Datastore.AllocateSpace"])
        elif vol and ":" in vol:
            check_volume_access(ctx, vmid, vol, "rootdir")
    elif key in ("memory", "swap"):
        check_vm_perm(ctx, vmid, pool, ["VM.Config.Memory"])
    elif re.match(r"^net\d+$", key):
        check_vm_perm(ctx, vmid, pool, ["VM.Config.Network"])
        if value is not None:
            check_bridge_access(ctx, "lxc", {key: value})
    elif re.match(r"^dev\d+$", key):
        raise perm_denied("configuring device passthrough is only allowed for root@pam")
    elif key in ("nameserver", "searchdomain", "hostname"):
        check_vm_perm(ctx, vmid, pool, ["VM.Config.Network"])
    elif key == "hookscript":
        raise perm_denied("changing the hookscript is only allowed for root@pam")
    elif key == "tags":
        assert_tag_permissions(ctx, vmid)
    elif key == "features":
        return  # model.lxc.modify_perm_checks
    else:
        check_vm_perm(ctx, vmid, pool, ["VM.Config.Options"])


def lxc_create(ctx):
    """The checks of pve-container create_vm before the worker starts."""
    p = ctx.params
    vmid, pool, restore = p["vmid"], p.get("pool"), bool(p.get("restore"))
    if not restore and str(p.get("unprivileged", 1)) in ("0", "False", "false"):
        ctx.check("/", ["Sys.Modify"])
    check_allocate(ctx, vmid, pool, restore, bool(p.get("force")))
    if is_root_pam(ctx):
        return
    for k, v in p.items():
        if k not in LXC_CREATE_PARAMS:
            lxc_option_check(ctx, vmid, pool, k, v)
    if p.get("ostemplate") and p["ostemplate"] != "-":
        check_volume_access(ctx, vmid, p["ostemplate"], "backup" if restore else "vztmpl")
    if "rootfs" not in p:  # $check_and_activate_storage on the default storage
        ctx.check("/storage/" + (p.get("storage") or "local"), ["Datastore.AllocateSpace"])
