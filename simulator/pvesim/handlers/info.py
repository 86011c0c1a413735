"""Read-only node, cluster and access endpoints that clients call for facts (version, time, DNS, rrd data...).

Values are synthetic but shaped as pve-manager's API2/Nodes.pm, API2/Cluster.pm and pve-access-control return
them; anything a client could act on (nodes, guests, tasks, HA resources) comes from the model.
"""

import hashlib
import math

from ..model.errors import PVEError
from . import route
from .cluster import version
from .tasks import split_token

SUBSCRIPTION_URL = "https://www.proxmox.com/en/proxmox-virtual-environment/pricing"
RRD_STEP = {"hour": 60, "day": 1800, "week": 10800, "month": 43200, "year": 604800, "decade": 6048000}


@route("GET", "/nodes/{node}/version")
def node_version(ctx):
    # PVE::pvecfg::version_info(): the same three keys /version starts from, without console
    v = version(ctx)
    return {k: v[k] for k in ("release", "repoid", "version")}


@route("GET", "/nodes/{node}/time")
def node_time(ctx):
    now = int(ctx.cluster.clock.now())
    return {"timezone": "UTC", "time": now, "localtime": now}


@route("GET", "/nodes/{node}/dns")
def node_dns(ctx):
    return {"search": "pvesim.internal", "dns1": "192.168.100.1"}


@route("GET", "/nodes/{node}/hosts")
def node_hosts(ctx):
    node = ctx.cluster.nodes[ctx.params["node"]]
    text = "127.0.0.1 localhost.localdomain localhost\n192.168.100.%d %s.pvesim.internal %s\n" % (
        node.index + 10, node.name, node.name)
    return {"data": text, "digest": hashlib.sha1(text.encode()).hexdigest()}


@route("GET", "/nodes/{node}/config")
def node_config(ctx):
    # an empty /etc/pve/nodes/<node>/config: only the digest of the empty file
    return {"digest": hashlib.sha1(b"").hexdigest()}


@route("GET", "/nodes/{node}/subscription")
def node_subscription(ctx):
    node = ctx.cluster.nodes[ctx.params["node"]]
    return {"status": "notfound", "message": "There is no subscription key", "url": SUBSCRIPTION_URL,
            "serverid": hashlib.md5(node.name.encode()).hexdigest()[:32].upper(), "sockets": 1}


@route("GET", "/nodes/{node}/netstat")
def node_netstat(ctx):
    out = []
    for g in ctx.cluster.guests.values():
        if g.node != ctx.params["node"] or g.status != "running":
            continue
        for k in sorted(g.config):
            if k.startswith("net") and k[3:].isdigit():
                dev = ("tap%si%s" if g.type == "qemu" else "veth%si%s") % (g.vmid, k[3:])
                out.append({"dev": dev, "vmid": str(g.vmid), "in": "0", "out": "0"})
    return out


@route("GET", "/nodes/{node}/hardware/usb")
def node_usb(ctx):
    return []


@route("GET", "/nodes/{node}/capabilities/qemu/machines")
def node_machines(ctx):
    out = []
    for ver in ("9.2", "9.1", "9.0", "8.2", "8.1", "8.0"):
        out.append({"id": "pc-q35-%s" % ver, "type": "q35", "version": ver})
        out.append({"id": "pc-i440fx-%s" % ver, "type": "i440fx", "version": ver})
    return out


@route("GET", "/nodes/{node}/capabilities/qemu/cpu-flags")
def node_cpu_flags(ctx):
    return [{"name": n, "description": d} for n, d in (
        ("md-clear", "Required to let the guest OS know if MDS is mitigated correctly"),
        ("pcid", "Meltdown fix cost reduction on Westmere, Sandy-, and IvyBridge Intel CPUs"),
        ("spec-ctrl", "Allows improved Spectre mitigation with Intel CPUs"),
        ("ssbd", "Protection for \"Speculative Store Bypass\" for Intel models"),
        ("aes", "Activate AES instruction set for HW acceleration."))]


def _rrd_points(ctx, sample):
    step = RRD_STEP[ctx.params.get("timeframe", "hour")]
    end = int(ctx.cluster.clock.now()) // step * step
    return [dict(sample(i), time=end - (69 - i) * step) for i in range(70)]


def _wave(i):
    return 0.05 + 0.03 * math.sin(i / 7.0)


@route("GET", "/nodes/{node}/rrddata")
def node_rrddata(ctx):
    node = ctx.cluster.nodes[ctx.params["node"]]
    disk = 100 * 1024 ** 3
    return _rrd_points(ctx, lambda i: {
        "cpu": _wave(i), "maxcpu": node.maxcpu, "iowait": 0.001, "loadavg": round(_wave(i) * node.maxcpu, 2),
        "memtotal": node.maxmem, "memused": node.maxmem // 8, "swaptotal": 0, "swapused": 0,
        "roottotal": disk, "rootused": disk // 10, "netin": 1000.0, "netout": 800.0})


def _guest_rrd(ctx, gtype):
    g = ctx.guest(gtype)
    running = g.status == "running"
    return _rrd_points(ctx, lambda i: {
        "cpu": _wave(i) if running else 0, "maxcpu": g.cpus(), "mem": g.maxmem() // 4 if running else 0,
        "maxmem": g.maxmem(), "disk": 0, "maxdisk": g.maxdisk(), "netin": 100.0 if running else 0,
        "netout": 50.0 if running else 0, "diskread": 0, "diskwrite": 0})


route("GET", "/nodes/{node}/qemu/{vmid}/rrddata")(lambda ctx: _guest_rrd(ctx, "qemu"))
route("GET", "/nodes/{node}/lxc/{vmid}/rrddata")(lambda ctx: _guest_rrd(ctx, "lxc"))


@route("GET", "/nodes/{node}/storage/{storage}/rrddata")
def storage_rrddata(ctx):
    c = ctx.cluster
    st = c.get_storage(ctx.params["storage"], ctx.params["node"])
    used = c.storage_used(st.id, ctx.params["node"])
    return _rrd_points(ctx, lambda i: {"total": st.total, "used": used})


@route("GET", "/nodes/{node}/network/{iface}")
def node_iface(ctx):
    from .storage import network_list
    for i in network_list(ctx):
        if i["iface"] == ctx.params["iface"]:
            return dict(i)
    raise PVEError("network interface '%s' does not exist" % ctx.params["iface"])


# --- cluster ---------------------------------------------------------------------------------------------------

@route("GET", "/cluster/options")
def cluster_options(ctx):
    return {}  # an empty datacenter.cfg


@route("GET", "/cluster/config/nodes")
def cluster_config_nodes(ctx):
    return [{"node": n.name, "name": n.name, "nodeid": str(n.index), "quorum_votes": "1",
             "ring0_addr": "192.168.100.%d" % (n.index + 10)} for n in ctx.cluster.nodes.values()]


def _task_entries(ctx):
    """The cluster task list (newest first): what every node's task archive holds, filtered like Tasks.pm."""
    c = ctx.cluster
    tasks = sorted(c.tasks.tasks.values(), key=lambda t: (t.starttime, t.upid), reverse=True)
    for t in tasks:
        if not ctx.can("/nodes/" + t.node, ["Sys.Audit"]) and t.user.split("!")[0] != ctx.userid:
            continue
        yield t


@route("GET", "/cluster/tasks")
def cluster_tasks(ctx):
    out = []
    for t in _task_entries(ctx):
        info = t.info()
        user, tok = split_token(info["user"])
        info["user"] = user
        if tok:
            info["tokenid"] = tok
        out.append(info)
    return out


@route("GET", "/cluster/log")
def cluster_log(ctx):
    """pvedaemon logs 'starting task' and 'end task' for every worker to the cluster log."""
    out = []
    limit = ctx.params.get("max", 50)
    for t in _task_entries(ctx):
        entries = []
        if t.status == "stopped":
            entries.append((t.endtime, "end task %s %s" % (t.upid, t.exitstatus)))
        entries.append((t.starttime, "starting task %s" % t.upid))
        for when, msg in entries:
            out.append({"uid": len(out) + 1, "time": when, "severity": 6, "tag": "pvedaemon", "pid": t.pid,
                        "node": t.node, "user": t.user, "msg": msg})
    return out[:limit]


# --- access ------------------------------------------------------------------------------------------------------

@route("GET", "/access/domains/{realm}")
def domain_get(ctx):
    from .access import domains
    for d in domains(ctx):
        if d["realm"] == ctx.params["realm"]:
            d = {k: v for k, v in d.items() if k not in ("realm", "default")}
            d["digest"] = hashlib.sha1(b"pvesim domains.cfg").hexdigest()
            return d
    raise PVEError("domain '%s' does not exist" % ctx.params["realm"])


@route("GET", "/access/groups/{groupid}")
def group_get(ctx):
    acc = ctx.cluster.access
    gid = ctx.params["groupid"]
    if gid not in acc.groups:
        raise PVEError("group '%s' does not exist" % gid)
    d = {"members": sorted(u for u, v in acc.users.items() if gid in v.get("groups", []))}
    if acc.groups[gid].get("comment"):
        d["comment"] = acc.groups[gid]["comment"]
    return d


def _fw_options(ctx):
    # API2/Firewall/*: copy_opject_with_digest of an empty options section
    if "vmid" in ctx.params:
        ctx.guest("qemu" if "/qemu/" in ctx.api_path else "lxc")
    return {"digest": hashlib.sha1(b"").hexdigest()}


for _p in ("/cluster/firewall/options", "/nodes/{node}/firewall/options", "/nodes/{node}/qemu/{vmid}/firewall/options",
           "/nodes/{node}/lxc/{vmid}/firewall/options"):
    route("GET", _p)(_fw_options)


def _cert_entry(filename, pem):
    """One entry of PVE::CertHelpers / certificate info: OpenSSL-style names, epoch validity, SHA-256 fingerprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    cert = x509.load_pem_x509_certificate(pem.encode())

    def name(n):
        return "/" + "/".join("%s=%s" % (a.rfc4514_attribute_name, a.value) for a in n)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san = ["DNS:%s" % v for v in sans.get_values_for_type(x509.DNSName)] + \
              ["IP Address:%s" % v for v in sans.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        san = []
    key = cert.public_key()
    return {"filename": filename, "fingerprint": ":".join("%02X" % b for b in cert.fingerprint(hashes.SHA256())),
            "subject": name(cert.subject), "issuer": name(cert.issuer), "san": san, "pem": pem,
            "notbefore": int(cert.not_valid_before_utc.timestamp()), "notafter": int(cert.not_valid_after_utc.timestamp()),
            "public-key-type": "id-ecPublicKey" if isinstance(key, ec.EllipticCurvePublicKey) else "rsaEncryption",
            "public-key-bits": key.key_size}


@route("GET", "/nodes/{node}/certificates/info")
def node_certificates(ctx):
    """pve-root-ca.pem and pve-ssl.pem: pvesim's own CA and the server certificate it serves (same on every node)."""
    import os
    state = ctx.app.state_dir
    if not state or not os.path.exists(os.path.join(state, "server.pem")):
        return []
    with open(os.path.join(state, "ca.pem"), encoding="ascii") as fh:
        ca = fh.read()
    with open(os.path.join(state, "server.pem"), encoding="ascii") as fh:
        server = fh.read().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    return [_cert_entry("pve-root-ca.pem", ca), _cert_entry("pve-ssl.pem", server)]
