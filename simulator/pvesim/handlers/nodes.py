"""/nodes: node list and node status."""

from . import route


@route("GET", "/nodes")
def nodes(ctx):
    c = ctx.cluster
    out = []
    for node in c.nodes.values():
        if not ctx.can("/nodes/" + node.name, ["Sys.Audit"]) and not ctx.cluster.access.is_root(ctx.authid):
            out.append({"node": node.name, "status": node.status, "id": "node/" + node.name, "type": "node"})
            continue
        online = node.status == "online"
        out.append({"node": node.name, "status": node.status, "id": "node/" + node.name, "type": "node",
                    "cpu": 0.02 if online else 0, "maxcpu": node.maxcpu, "mem": node.maxmem // 8 if online else 0,
                    "maxmem": node.maxmem, "disk": 10 * 1024 ** 3, "maxdisk": 100 * 1024 ** 3,
                    "uptime": int(c.clock.now() - node.boot) if online else 0, "level": "",
                    "ssl_fingerprint": ":".join(["%02X" % ((node.index * 37 + i) % 256) for i in range(32)])})
    return out


@route("GET", "/nodes/{node}/status")
def node_status(ctx):
    c = ctx.cluster
    node = c.get_node(ctx.params["node"])
    mem = node.maxmem
    return {"cpu": 0.02, "wait": 0, "uptime": int(c.clock.now() - node.boot), "idle": 0,
            "cpuinfo": {"cores": node.maxcpu // 2 or 1, "cpus": node.maxcpu, "sockets": 1, "model": "pvesim virtual CPU",
                        "mhz": "2400.000", "hvm": "1", "flags": "fpu vme de pse", "user_hz": 100},
            "memory": {"total": mem, "used": mem // 8, "free": mem - mem // 8, "available": mem - mem // 8},
            "swap": {"total": 0, "used": 0, "free": 0},
            "rootfs": {"total": 100 * 1024 ** 3, "used": 10 * 1024 ** 3, "free": 90 * 1024 ** 3, "avail": 90 * 1024 ** 3},
            "ksm": {"shared": 0}, "loadavg": ["0.10", "0.05", "0.01"], "pveversion": "pve-manager/%(version)s/%(repoid)s" % c.version_info(),
            "kversion": "Linux 6.14.11-2-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.11-2 (2026-09-01T00:00Z)",
            "current-kernel": {"sysname": "Linux", "release": "6.14.11-2-pve", "machine": "x86_64",
                               "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.14.11-2 (2026-09-01T00:00Z)"},
            "boot-info": {"mode": "efi", "secureboot": 0}}
