"""/nodes/{node}/qemu: VMs."""

import time

from .. import propstring
from ..model.errors import PVEError
from ..model import lxc as lxc_model
from ..model.guests import NEW_DISK_RE, drive_volume, is_drive
from . import guest_perms, route

BASE = "/nodes/{node}/qemu"


def guest_list(ctx, gtype):
    c = ctx.cluster
    node = ctx.params["node"]
    out = []
    now = c.clock.now()
    for g in c.guests.values():
        if g.node != node or g.type != gtype:
            continue
        if not ctx.can("/vms/%s" % g.vmid, ["VM.Audit"]):
            continue
        d = c.status_view(g)
        d.pop("ha", None)
        d["vmid"] = g.vmid
        if g.type == "qemu" and not ctx.params.get("full"):
            # vmstatus() returns before its QMP queries unless 'full' is set: no qmpstatus, no running-*
            d.pop("qmpstatus", None)
            d.pop("running-machine", None)
            d.pop("running-qemu", None)
        d["uptime"] = int(now - g.started) if g.status == "running" and g.started else 0
        out.append(d)
    return out


@route("GET", BASE)
def qemu_list(ctx):
    return guest_list(ctx, "qemu")


@route("POST", BASE)
def qemu_create(ctx):
    guest_perms.qemu_create(ctx)
    if ctx.params.get("archive"):
        return ctx.cluster.restore("qemu", ctx.params["node"], ctx.params, ctx.authid).upid
    return ctx.cluster.create_guest("qemu", ctx.params["node"], ctx.params, ctx.authid).upid


@route("GET", BASE + "/{vmid}")
def qemu_index(ctx):
    ctx.guest("qemu")
    return [{"subdir": s} for s in ("config", "pending", "status", "snapshot", "agent", "migrate", "resize", "clone")]


@route("DELETE", BASE + "/{vmid}")
def qemu_destroy(ctx):
    return ctx.cluster.destroy(ctx.guest("qemu"), ctx.with_root(), ctx.authid).upid


@route("GET", BASE + "/{vmid}/config")
def qemu_config(ctx):
    if ctx.params.get("snapshot") and ctx.params.get("current"):
        from ..model.errors import param_error
        msg = "cannot use 'snapshot' parameter with 'current'"
        raise param_error({"snapshot": msg, "current": msg})
    g = ctx.guest("qemu")
    return ctx.cluster.config_view(g, ctx.params.get("current"), ctx.params.get("snapshot"))


@route("GET", BASE + "/{vmid}/pending")
def qemu_pending(ctx):
    return ctx.cluster.pending_view(ctx.guest("qemu"))


CPU_KEYS = {"cores", "sockets", "cpu", "cpulimit", "cpuunits", "vcpus", "numa", "affinity", "cpuset"}
MEM_KEYS = {"memory", "balloon", "shares", "swap"}
CI_KEYS = {"ciuser", "cipassword", "sshkeys", "nameserver", "searchdomain", "citype", "ciupgrade", "cicustom"}
OPT_KEYS = {"name", "hostname", "description", "onboot", "tags", "protection", "startup", "agent", "ostype", "boot",
            "hookscript", "lock", "tablet", "localtime", "keyboard", "reboot", "migrate_downtime", "migrate_speed",
            "unprivileged", "features", "timezone", "console", "tty", "cmode", "template"}


def config_privilege(gtype, key, value=None):
    """The privilege PVE's check_vm_modify_config_perm wants for one option."""
    import re
    if key in CPU_KEYS:
        return "VM.Config.CPU"
    if key in MEM_KEYS:
        return "VM.Config.Memory"
    if key in CI_KEYS or key.startswith("ipconfig"):
        return "VM.Config.Cloudinit"
    if key.startswith("net"):
        return "VM.Config.Network"
    if is_drive(gtype, key) or re.match(r"^unused\d+$", key):
        if value is not None and "media=cdrom" in str(value) and gtype == "qemu":
            return "VM.Config.CDROM"
        return "VM.Config.Disk"
    if key in OPT_KEYS:
        return "VM.Config.Options"
    return "VM.Config.HWType"


def check_config_perms(ctx, gtype, vmid, opts, delete):
    if ctx.cluster.access.is_root(ctx.authid):
        return
    path = "/vms/%s" % vmid
    old = ctx.cluster.guests[int(vmid)].config
    for k, v in opts.items():
        if gtype == "qemu" and (k in CI_KEYS or k.startswith("ipconfig")):
            ctx.check(path, ["VM.Config.Cloudinit", "VM.Config.Network"], True)  # either one (PVE 9)
            continue
        ctx.check(path, [config_privilege(gtype, k, v)])
    for k in delete:
        ctx.check(path, [config_privilege(gtype, k, old.get(k))])
    # SDN.Use on the bridge (VLAN) of every network device written; pve-container also on the one it replaces
    nets = [k for k in list(opts) + list(delete) if k.startswith("net")]
    for k in nets:
        if k in opts:
            guest_perms.check_bridge_access(ctx, gtype, {k: opts[k]})
        if gtype == "lxc" and old.get(k):
            guest_perms.check_bridge_access(ctx, gtype, {k: old[k]})


def update_config(ctx, gtype, is_async):
    c = ctx.cluster
    g = ctx.guest(gtype)
    c.check_node_online(g.node)
    opts, delete, revert = c.precheck_update(g, ctx.params, ctx.valid_key, ctx.is_root)
    check_config_perms(ctx, gtype, g.vmid, opts, delete)
    if gtype == "lxc":
        lxc_model.modify_perm_checks(ctx.authid, g.vmid, g.config.get("unprivileged"), g.config.get("features"),
                                     opts, delete, ctx.can("/vms/%s" % g.vmid, ["VM.Allocate"]))
    force = ctx.params.get("force")
    if not is_async:
        c.apply_update(g, opts, delete, revert, force)
        return None

    def work(task):
        def warn(msg):
            task.log.append("WARN: " + msg)
            task.warnings += 1
        c.apply_update(g, opts, delete, revert, force, warn)

    # the worker's first line, as update_vm_api prints it (sorted '-key value' pairs, cipassword hidden)
    shown = {k: v for k, v in ctx.params.items() if k not in ("node", "vmid", "digest", "background_delay")}
    pairs = ["-%s %s" % (k, "<hidden>" if k == "cipassword" else shown[k]) for k in sorted(shown)]
    first = "update VM %s: %s" % (g.vmid, " ".join(pairs))
    task = c.tasks.start(g.node, "qmconfig", g.vmid, ctx.authid, 1 if any(is_drive(gtype, k) for k in opts) else 0,
                         work, lock_vmid=g.vmid, first_log=first)
    delay = ctx.params.get("background_delay")
    if delay:
        deadline = time.time() + delay
        while task.status == "running" and time.time() < deadline:
            c.lock.release()
            try:
                time.sleep(0.05)
            finally:
                c.lock.acquire()
            c.tick()
        if task.status == "stopped":
            if task.exitstatus != "OK":
                raise PVEError("failed to update VM %s: %s" % (g.vmid, task.exitstatus))
            return None
    return task.upid


@route("POST", BASE + "/{vmid}/config")
def qemu_config_post(ctx):
    return update_config(ctx, "qemu", True)


@route("PUT", BASE + "/{vmid}/config")
def qemu_config_put(ctx):
    return update_config(ctx, "qemu", False)


@route("GET", BASE + "/{vmid}/status")
def qemu_status_index(ctx):
    ctx.guest("qemu")
    return [{"subdir": s} for s in ("current", "start", "stop", "reset", "shutdown", "suspend", "reboot", "resume")]


@route("GET", BASE + "/{vmid}/status/current")
def qemu_status(ctx):
    return ctx.cluster.status_view(ctx.guest("qemu"))


def _power(action):
    def fn(ctx):
        g = ctx.guest("qemu")
        if ctx.params.get("skiplock") and not ctx.is_root:
            from ..model.errors import param_error
            raise param_error({"skiplock": "Only root may use this option."})
        return ctx.cluster.power(g, action, ctx.params, ctx.authid).upid
    return fn


for _a in ("start", "stop", "shutdown", "reboot", "reset", "suspend", "resume"):
    route("POST", BASE + "/{vmid}/status/" + _a)(_power(_a))


@route("POST", BASE + "/{vmid}/clone")
def qemu_clone(ctx):
    p = ctx.params
    pool = p.get("pool")
    if pool:
        ctx.check("/pool/" + pool, ["VM.Allocate"])
    else:
        ctx.check("/vms/%s" % p["newid"], ["VM.Allocate"])
    if p.get("storage"):
        ctx.check("/storage/" + p["storage"], ["Datastore.AllocateSpace"])
    g = ctx.guest("qemu")
    guest_perms.check_bridge_access(ctx, "qemu", g.config)  # clone_vm: the source's network devices
    return ctx.cluster.clone(g, p, ctx.authid).upid


@route("POST", BASE + "/{vmid}/template")
def qemu_template(ctx):
    return ctx.cluster.make_template(ctx.guest("qemu"), ctx.params, ctx.authid).upid


@route("PUT", BASE + "/{vmid}/resize")
def qemu_resize(ctx):
    return ctx.cluster.resize(ctx.guest("qemu"), ctx.with_root(), ctx.authid).upid


@route("GET", BASE + "/{vmid}/snapshot")
def qemu_snapshots(ctx):
    return ctx.cluster.snapshot_list(ctx.guest("qemu"))


@route("POST", BASE + "/{vmid}/snapshot")
def qemu_snapshot_create(ctx):
    return ctx.cluster.snapshot_create(ctx.guest("qemu"), ctx.params, ctx.authid).upid


@route("GET", BASE + "/{vmid}/snapshot/{snapname}")
def qemu_snapshot_index(ctx):
    ctx.guest("qemu")
    return [{"cmd": "rollback"}, {"cmd": "config"}]  # snapshot_cmd_idx: no existence check


@route("DELETE", BASE + "/{vmid}/snapshot/{snapname}")
def qemu_snapshot_delete(ctx):
    return ctx.cluster.snapshot_delete(ctx.guest("qemu"), ctx.params["snapname"], ctx.params, ctx.authid).upid


@route("POST", BASE + "/{vmid}/snapshot/{snapname}/rollback")
def qemu_snapshot_rollback(ctx):
    return ctx.cluster.snapshot_rollback(ctx.guest("qemu"), ctx.params["snapname"], ctx.params, ctx.authid).upid


def snapshot_config_get(ctx, gtype):
    g = ctx.guest(gtype)
    snap = g.snapshots.get(ctx.params["snapname"])
    if snap is None:
        raise PVEError("snapshot '%s' does not exist" % ctx.params["snapname"])
    conf = dict(snap["config"])  # the snapshot section as stored: get_snapshot_config adds no digest
    if "cipassword" in conf:
        conf["cipassword"] = "**********"
    return conf


def snapshot_config_put(ctx, gtype):
    g = ctx.guest(gtype)
    snap = g.snapshots.get(ctx.params["snapname"])
    if snap is None:
        raise PVEError("snapshot '%s' does not exist" % ctx.params["snapname"])
    if "description" in ctx.params:
        snap["description"] = ctx.params["description"]
        snap["config"]["description"] = ctx.params["description"]
        g.changed()
    return None


route("GET", BASE + "/{vmid}/snapshot/{snapname}/config")(lambda ctx: snapshot_config_get(ctx, "qemu"))
route("PUT", BASE + "/{vmid}/snapshot/{snapname}/config")(lambda ctx: snapshot_config_put(ctx, "qemu"))


@route("GET", BASE + "/{vmid}/migrate")
def qemu_migrate_pre(ctx):
    return ctx.cluster.migrate_precondition(ctx.guest("qemu"), ctx.params.get("target"))


@route("POST", BASE + "/{vmid}/migrate")
def qemu_migrate(ctx):
    return ctx.cluster.migrate(ctx.guest("qemu"), ctx.params, ctx.authid).upid


@route("GET", BASE + "/{vmid}/agent/network-get-interfaces")
def qemu_agent_ifaces(ctx):
    return ctx.cluster.agent_interfaces(ctx.guest("qemu"))


@route("GET", BASE + "/{vmid}/agent")
def qemu_agent_index(ctx):
    ctx.guest("qemu")
    return [{"network-get-interfaces": {}}, {"ping": {}}, {"info": {}}]


@route("POST", BASE + "/{vmid}/agent/ping")
def qemu_agent_ping(ctx):
    ctx.cluster.agent_interfaces(ctx.guest("qemu"))
    return None


@route("GET", BASE + "/{vmid}/cloudinit")
def qemu_cloudinit_pending(ctx):
    return ctx.cluster.cloudinit_pending(ctx.guest("qemu"))


@route("PUT", BASE + "/{vmid}/cloudinit")
def qemu_cloudinit_regenerate(ctx):
    c = ctx.cluster
    g = ctx.guest("qemu")
    c.check_lock(g)
    c.flock(g)
    c.regenerate_cloudinit(g)
    return None


@route("GET", BASE + "/{vmid}/cloudinit/dump")
def qemu_cloudinit_dump(ctx):
    g = ctx.guest("qemu")
    conf = g.config
    typ = ctx.params["type"]
    if typ == "user":
        lines = ["#cloud-config", "hostname: %s" % g.name(), "manage_etc_hosts: true", "fqdn: %s" % g.name()]
        if conf.get("ciuser"):
            lines.append("user: %s" % conf["ciuser"])
        if conf.get("cipassword"):
            lines.append("password: %s" % conf["cipassword"])
        if conf.get("sshkeys"):
            import urllib.parse
            keys = [k for k in urllib.parse.unquote(conf["sshkeys"]).split("\n") if k.strip()]
            lines.append("ssh_authorized_keys:")
            lines += ["  - %s" % k for k in keys]
        lines += ["chpasswd:", "  expire: False", "users:", "  - default", "package_upgrade: %s" % (
            "true" if str(conf.get("ciupgrade", 1)) == "1" else "false")]
        return "\n".join(lines) + "\n"
    if typ == "meta":
        return "instance-id: %s\n" % g.digest()
    lines = ["version: 1", "config:"]
    for i in range(32):
        if "net%d" % i not in conf:
            continue
        from .. import propstring
        mac = propstring.parse_qemu_net(conf["net%d" % i]).get("macaddr", "").lower()
        ipc = propstring.loose_parse(conf.get("ipconfig%d" % i, "ip=dhcp"))
        lines += ["    - type: physical", "      name: eth%d" % i, "      mac_address: '%s'" % mac, "      subnets:"]
        if ipc.get("ip", "dhcp") == "dhcp":
            lines.append("      - type: dhcp4")
        else:
            lines += ["      - type: static", "        address: '%s'" % ipc["ip"]]
            if ipc.get("gw"):
                lines.append("        gateway: '%s'" % ipc["gw"])
    return "\n".join(lines) + "\n"


@route("POST", BASE + "/{vmid}/move_disk")
def qemu_move_disk(ctx):
    ctx.check("/storage/" + ctx.params.get("storage", ""), ["Datastore.AllocateSpace"])
    return ctx.cluster.move_disk(ctx.guest("qemu"), ctx.params, ctx.authid).upid


@route("PUT", BASE + "/{vmid}/unlink")
def qemu_unlink(ctx):
    # qemu-server unlink: idlist becomes 'delete' and update_vm_api runs synchronously (the PUT config path)
    # (its errors name 'delete', and option_exists judges the ids by the config schema)
    ctx.params["delete"] = ctx.params.pop("idlist")
    ctx.mobj = ctx.app.schema.methods[BASE + "/{vmid}/config"]["PUT"]
    return update_config(ctx, "qemu", False)


@route("GET", BASE + "/{vmid}/feature")
def qemu_feature(ctx):
    return ctx.cluster.has_feature(ctx.guest("qemu"), ctx.params["feature"], ctx.params.get("snapname"))


GUEST_OS = {"id": "debian", "name": "Debian GNU/Linux", "pretty-name": "Debian GNU/Linux 13 (trixie)",
            "version-id": "13", "version": "13 (trixie)", "kernel-release": "6.12.43+deb13-amd64",
            "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.12.43-1", "machine": "x86_64"}


def _agent(cmd):
    def fn(ctx):
        c = ctx.cluster
        g = ctx.guest("qemu")
        c.agent_check(g)
        if cmd == "info":
            names = ["guest-ping", "guest-info", "guest-get-osinfo", "guest-get-host-name", "guest-get-time",
                     "guest-get-timezone", "guest-get-vcpus", "guest-get-users", "guest-get-fsinfo",
                     "guest-network-get-interfaces", "guest-exec", "guest-exec-status", "guest-file-read"]
            return {"result": {"version": "9.2.0", "supported_commands": [
                {"name": n, "enabled": True, "success-response": True} for n in names]}}
        if cmd == "get-osinfo":
            return {"result": dict(GUEST_OS)}
        if cmd == "get-host-name":
            return {"result": {"host-name": g.name()}}
        if cmd == "get-time":
            return {"result": int(c.clock.now() * 1e9)}
        if cmd == "get-timezone":
            return {"result": {"zone": "UTC", "offset": 0}}
        if cmd == "get-vcpus":
            return {"result": [{"logical-id": i, "online": True, "can-offline": i > 0} for i in range(g.cpus())]}
        if cmd == "get-users":
            return {"result": []}
        _, d = next(((k, d) for k, vol, d in g.drives() if d.get("media") != "cdrom" and vol and ":" in vol
                     and not vol.endswith("cloudinit")), (None, {}))
        total = propstring.size_to_bytes(d.get("size", "0")) if d.get("size") else 0
        return {"result": [{"name": "sda1", "mountpoint": "/", "type": "ext4", "total-bytes": total,
                            "used-bytes": total // 5, "disk": [{"bus-type": "scsi", "bus": 0, "target": 0, "unit": 0,
                                                               "dev": "/dev/sda1", "serial": "drive-scsi0"}]}]}
    return fn


for _cmd in ("info", "get-osinfo", "get-host-name", "get-time", "get-timezone", "get-vcpus", "get-users",
             "get-fsinfo"):
    route("GET", BASE + "/{vmid}/agent/" + _cmd)(_agent(_cmd))
